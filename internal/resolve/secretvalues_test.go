package resolve

import (
	"strings"
	"testing"
)

func TestParseWebhookURL(t *testing.T) {
	cases := []struct {
		raw, want, wantErr string
	}{
		{raw: "https://hooks.example.com/x?token=abc", want: "https://hooks.example.com/x?token=abc"},
		{raw: "  http://10.0.0.1:8080/hook\n", want: "http://10.0.0.1:8080/hook"},
		{raw: "", wantErr: "empty"},
		{raw: " \n", wantErr: "empty"},
		{raw: "ftp://example.com/x", wantErr: "not an http or https URL"},
		{raw: "hooks.example.com/x", wantErr: "not an http or https URL"},
		{raw: "https:///path-only", wantErr: "no host"},
		{raw: "https://exa mple.com/%zz", wantErr: "not a URL"},
		{raw: "https://example.com/" + strings.Repeat("a", maxSecretValueLength), wantErr: "longer than"},
	}
	for _, tc := range cases {
		got, err := parseWebhookURL(tc.raw)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseWebhookURL(%q) error = %v, want one containing %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseWebhookURL(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
}

func TestParseSigningSecrets(t *testing.T) {
	const a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const b = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	cases := []struct {
		raw     string
		want    int
		wantErr string
	}{
		{raw: a, want: 1},
		{raw: a + "\n", want: 1},
		{raw: a + " " + b, want: 2},
		{raw: a + "\n" + b + "\n", want: 2},
		{raw: "", wantErr: "no signing secret"},
		{raw: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", wantErr: `signing secret 1 does not start with "whsec_"`},
		{raw: a + " whsec_not*base64", wantErr: "signing secret 2 is not valid base64"},
		{raw: "whsec_c2hvcnQ=", wantErr: "decodes to 5 bytes"},
		{raw: strings.Repeat(a+" ", maxSigningSecrets+1), wantErr: "more than"},
	}
	for _, tc := range cases {
		got, err := parseSigningSecrets(tc.raw)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseSigningSecrets(%q) error = %v, want one containing %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != tc.want {
			t.Errorf("parseSigningSecrets(%q) = %d secrets, %v; want %d", tc.raw, len(got), err, tc.want)
		}
	}
}

// The values these parsers read are credentials: whatever the input, they
// must not panic, and an error must not repeat the value. Every fuzzed
// value ends with a canary that no error may contain.
const canary = "Kc4nary7f3aQ"

func FuzzParseWebhookURL(f *testing.F) {
	for _, seed := range []string{"https://hooks.example.com/x?token=abc", "ftp://x", "", "https://", "http://[::1]:80/", "%", "https://u:p@h/", "httpS://"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseWebhookURL(raw + canary)
		if err != nil {
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error %q repeats the secret value", err)
			}
			return
		}
		// Schemes are case-insensitive (RFC 3986): "HTTPS://" is https.
		if lower := strings.ToLower(got); !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
			t.Fatalf("accepted %q, which is not an http(s) URL", got)
		}
	})
}

func FuzzParseSigningSecrets(f *testing.F) {
	for _, seed := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_====", "a b c", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseSigningSecrets(raw + canary)
		if err != nil {
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error %q repeats the secret value", err)
			}
			return
		}
		for _, s := range got {
			if !strings.HasPrefix(s, "whsec_") {
				t.Fatalf("accepted %q, which is not a whsec_ secret", s)
			}
		}
	})
}
