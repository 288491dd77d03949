package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAuth(t *testing.T) {
	token := "h." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"system:serviceaccount:demo:demo"}`)) + ".s"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := readAuth("", file, "", "", "", "")
	if err != nil || a.token != token || a.inboxPrefix != "_INBOX.demo.demo" {
		t.Fatalf("readAuth(--token-file) = %+v, %v", a, err)
	}
	if len(a.options("demo")) != 2 {
		t.Errorf("options: %d, want the user and the inbox prefix", len(a.options("demo")))
	}
	if a, err := readAuth("opaque", "", "_INBOX.mine", "", "", ""); err != nil || a.inboxPrefix != "_INBOX.mine" {
		t.Errorf("an explicit inbox prefix: %+v, %v", a, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args [6]string
		want string
	}{
		{[6]string{token, file, "", "", "", ""}, "give one"},
		{[6]string{"", filepath.Join(t.TempDir(), "none"), "", "", "", ""}, "--token-file"},
		{[6]string{"", empty, "", "", "", ""}, "is empty"},
		{[6]string{"opaque", "", "", "", "", ""}, "--inbox-prefix is needed"},
		{[6]string{token, "", "", "", "cert.pem", ""}, "go together"},
	} {
		_, err := readAuth(tc.args[0], tc.args[1], tc.args[2], tc.args[3], tc.args[4], tc.args[5])
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("readAuth(%q): %v, want %q", tc.args, err, tc.want)
		}
	}
}
