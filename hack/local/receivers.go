package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/localsystem/sink"
)

// receivers are the local system's ends of the operator's notifications:
// the SMTP sink the operator's email goes to (messages in
// <state>/mail/NNNN.eml) and the demo webhook receiver (deliveries in
// <state>/webhooks.log). Each also prints a line per message here.
type receivers struct {
	mail        *sink.MailSink
	addr        string
	webhooksLog string

	logFile *os.File
	srv     *http.Server
	served  chan error
}

// startReceivers starts both, on a fresh mail directory and log, as the
// system they serve is fresh.
func startReceivers(stateDir string, o options) (*receivers, error) {
	mailDir := filepath.Join(stateDir, "mail")
	webhooksLog := filepath.Join(stateDir, "webhooks.log")
	if err := os.RemoveAll(mailDir); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(webhooksLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", o.receiverAddr)
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("the demo webhook receiver (--receiver-addr): %w", err)
	}
	mail, err := sink.StartMailSink("127.0.0.1:0", mailDir, os.Stdout)
	if err != nil {
		l.Close()
		logFile.Close()
		return nil, err
	}
	r := &receivers{mail: mail, addr: l.Addr().String(), webhooksLog: webhooksLog, logFile: logFile, served: make(chan error, 1)}
	r.srv = &http.Server{
		Handler:           &sink.Receiver{Secret: o.receiverSecret, Out: logFile, Notices: os.Stdout, Where: webhooksLog},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
	}
	go func() {
		err := r.srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.served <- err
	}()
	return r, nil
}

// close stops both.
func (r *receivers) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := errors.Join(r.srv.Shutdown(ctx), <-r.served, r.mail.Close())
	return errors.Join(err, r.logFile.Close())
}
