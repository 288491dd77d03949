package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// reasonError is an error whose message is a fixed reason written by the
// operator and which unwraps to the cause it stands for, so that
// errors.Is still sees context.DeadlineExceeded or a channel's sentinel
// errors while the cause's own text, which may quote a receiver or name
// an internal address, is never shown.
type reasonError struct {
	reason string
	cause  error
}

func (e *reasonError) Error() string { return e.reason }
func (e *reasonError) Unwrap() error { return e.cause }

// Because returns an error with the message reason that unwraps to cause
// (which may be nil). reason must be the operator's words: nothing of
// cause's message.
func Because(reason string, cause error) error {
	return &reasonError{reason: reason, cause: cause}
}

// TransportReason names, in fixed words, why a connection or an exchange
// on it failed: a timeout (with budget, the attempt's time allowance, when
// it is known), a refused or reset connection, a failed DNS lookup or TLS
// handshake, an answer cut short. Nothing of err's text is repeated: net
// errors carry resolved addresses and TLS errors the peer's certificate
// names. An error it does not know is "the connection failed".
func TransportReason(err error, budget time.Duration) string {
	var (
		dnsErr      *net.DNSError
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		netErr      net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "the attempt was cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		if budget > 0 {
			return fmt.Sprintf("timed out after %s", budget.Round(100*time.Millisecond))
		}
		return "timed out"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS lookup failed: no such host"
		}
		return "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the connection was reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &unknownCA):
		return "TLS handshake failed: the certificate is not signed by a trusted authority"
	case errors.As(err, &hostnameErr):
		return "TLS handshake failed: the certificate is not valid for the host"
	case errors.As(err, &invalidCert):
		return "TLS handshake failed: the certificate is invalid or expired"
	case errors.As(err, &verifyErr):
		return "TLS handshake failed: the certificate could not be verified"
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS handshake failed: the receiver does not speak TLS"
	case errors.As(err, &alertErr):
		return "TLS handshake failed: the receiver refused it"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before an answer"
	case fromTLS(err):
		return "TLS handshake failed"
	}
	return "the connection failed"
}

// fromTLS reports whether err or one it wraps is one of crypto/tls's
// plain errors, whose messages start with "tls: ".
func fromTLS(err error) bool {
	for err != nil {
		if strings.HasPrefix(err.Error(), "tls: ") {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}
