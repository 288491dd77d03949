package restapi

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/leadvibe/milestone-triggers-operator/internal/testcert"
)

// With a certificate and a key, Start serves HTTPS and nothing in clear.
func TestStartServesHTTPS(t *testing.T) {
	certFile, keyFile, pool := testcert.Files(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	cs, _, _ := fakeReviews(t)
	c := fake.NewClientBuilder().Build()
	s, err := New(Options{
		Addr: addr, CertFile: certFile, KeyFile: keyFile,
		Cache: c, APIReader: c, Writer: c,
		TokenReviews: cs.AuthenticationV1(), SubjectAccessReviews: cs.AuthorizationV1(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	}()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err = client.Get("https://" + addr + "/triggers")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.TLS == nil {
		t.Fatalf("HTTPS answer %d (TLS %v), want 401 over TLS", resp.StatusCode, resp.TLS != nil)
	}
	plain, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/triggers")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP got %d, want the TLS server's 400", plain.StatusCode)
		}
	}
}

func TestNewNeedsBothCertificateAndKey(t *testing.T) {
	cs, _, _ := fakeReviews(t)
	c := fake.NewClientBuilder().Build()
	_, err := New(Options{CertFile: "tls.crt", Cache: c, APIReader: c, Writer: c,
		TokenReviews: cs.AuthenticationV1(), SubjectAccessReviews: cs.AuthorizationV1()})
	if err == nil {
		t.Fatal("New accepted a certificate without a key")
	}
}
