package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// answer is a canned 200 of POST /triggers/{id}/backtest, as the contract
// shapes it.
const answer = `{"trigger_id":"hot-lead-alert","since":"2026-11-24T00:00:00Z","until":"2026-12-01T00:00:00Z",` +
	`"definition":{"score_threshold":80,"event_type":"demo_request","rearm_below":60,"cooldown":"1h"},` +
	`"events_scanned":5123,"events_rejected":4,"firings":3,"leads":2,` +
	`"first_firings":[{"lead_id":"ld_1","event_id":"evt-1","score":80,"at":"2026-11-24T10:00:00Z"},` +
	`{"lead_id":"ld_22","event_id":"evt-19","score":91,"at":"2026-11-25T08:30:00Z"},` +
	`{"lead_id":"ld_1","event_id":"evt-77","score":84,"at":"2026-11-26T12:00:00Z"}],` +
	`"complete":false,"stopped_by":"time_limit","scanned_through":"2026-11-30T23:59:00Z"}`

// exchange is what the test server saw of the tool's request.
type exchange struct {
	method, path, auth, contentType, ou string
	body                                map[string]any
}

// newAPI serves canned answers to POST /triggers/{id}/backtest, recording
// each request.
func newAPI(t *testing.T, tls bool, status int, body string, header map[string]string) (*httptest.Server, *[]exchange) {
	t.Helper()
	var seen []exchange
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		x := exchange{method: r.Method, path: r.URL.EscapedPath(), auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), ou: r.Header.Get("X-LeadVibe-OU")}
		if err := json.Unmarshal(raw, &x.body); err != nil {
			t.Errorf("the request body %q is not a JSON object: %v", raw, err)
		}
		seen = append(seen, x)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &seen
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func runTool(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = realMain(args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestBacktestSummary runs the tool against a server that checks the
// request it sends (path, headers, and exactly the fields given) and
// prints the canned answer's summary.
func TestBacktestSummary(t *testing.T) {
	srv, seen := newAPI(t, false, http.StatusOK, answer, nil)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runTool(t, env(map[string]string{"API": srv.URL + "/", "TOKEN": "env-token"}),
		"-token-file", tokenFile, "-ou", "demo", "-trigger", "hot-lead-alert",
		"-since", "2026-11-24T00:00:00Z", "-until", "2026-12-01T00:00:00+01:00",
		"-score-threshold", "80", "-event-type", "", "-rearm-below", "60", "-cooldown", "1h", "-max-events", "10000")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if len(*seen) != 1 {
		t.Fatalf("%d requests, want 1", len(*seen))
	}
	x := (*seen)[0]
	if x.method != http.MethodPost || x.path != "/triggers/hot-lead-alert/backtest" {
		t.Errorf("%s %s, want POST /triggers/hot-lead-alert/backtest", x.method, x.path)
	}
	if x.auth != "Bearer file-token" || x.contentType != "application/json" || x.ou != "demo" {
		t.Errorf("Authorization %q, Content-Type %q, X-LeadVibe-OU %q", x.auth, x.contentType, x.ou)
	}
	want := map[string]any{
		"since": "2026-11-24T00:00:00Z", "until": "2026-12-01T00:00:00+01:00",
		"score_threshold": 80.0, "event_type": "", "rearm_below": 60.0, "cooldown": "1h", "max_events": 10000.0,
	}
	if !reflect.DeepEqual(x.body, want) {
		t.Errorf("body %v, want %v", x.body, want)
	}

	t.Log("\n" + stdout)
	for _, line := range []string{
		"trigger hot-lead-alert, firings from 2026-11-24T00:00:00Z to 2026-12-01T00:00:00Z",
		"definition: score_threshold 80, event_type demo_request, rearm_below 60, cooldown 1h",
		"events scanned: 5123 (4 rejected), stored through 2026-11-30T23:59:00Z",
		"firings: 3, leads: 2",
		"complete: false, stopped by time_limit: the counts cover the events read only",
		"first firings (3 of 3):",
		"AT                    LEAD   EVENT   SCORE",
		"2026-11-24T10:00:00Z  ld_1   evt-1   80",
		"2026-11-25T08:30:00Z  ld_22  evt-19  91",
	} {
		if !strings.Contains(stdout, line+"\n") {
			t.Errorf("the summary lacks the line %q", line)
		}
	}
}

// TestBacktestSendsOnlyWhatIsGiven: without overrides, the body holds
// since alone, a duration since is now minus it, the token comes from
// TOKEN, no OU header is sent, and none clears rearm_below and cooldown.
func TestBacktestSendsOnlyWhatIsGiven(t *testing.T) {
	srv, seen := newAPI(t, false, http.StatusOK, answer, nil)
	getenv := env(map[string]string{"API": srv.URL, "TOKEN": "env-token"})
	before := time.Now().Add(-168 * time.Hour).Truncate(time.Second)
	if code, _, stderr := runTool(t, getenv, "-trigger", "hot-lead-alert", "-since", "168h"); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if code, _, stderr := runTool(t, getenv, "-trigger", "hot-lead-alert", "-since", "1h", "-rearm-below", "none", "-cooldown", "none"); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	after := time.Now().Add(-168 * time.Hour)

	x := (*seen)[0]
	if x.auth != "Bearer env-token" || x.ou != "" {
		t.Errorf("Authorization %q, X-LeadVibe-OU %q; want the token of TOKEN and no OU header", x.auth, x.ou)
	}
	if len(x.body) != 1 {
		t.Errorf("body %v, want since alone", x.body)
	}
	since, err := time.Parse(time.RFC3339, x.body["since"].(string))
	if err != nil || since.Before(before) || since.After(after) {
		t.Errorf("since %v (%v), want 168h before now", x.body["since"], err)
	}
	x = (*seen)[1]
	if v, ok := x.body["rearm_below"]; !ok || v != nil {
		t.Errorf("rearm_below %v (sent %t), want null", v, ok)
	}
	if v, ok := x.body["cooldown"]; !ok || v != "" {
		t.Errorf("cooldown %v (sent %t), want \"\"", v, ok)
	}
}

// TestBacktestJSON prints the answer as it came, over TLS verified with
// --ca-file.
func TestBacktestJSON(t *testing.T) {
	srv, _ := newAPI(t, true, http.StatusOK, answer, nil)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(map[string]string{"TOKEN": "t"})
	code, stdout, stderr := runTool(t, getenv, "-api", srv.URL, "-ca-file", ca, "-trigger", "hot-lead-alert", "-since", "1h", "-json")
	if code != 0 || stdout != answer {
		t.Fatalf("exit %d, stdout %q, stderr %s; want the answer", code, stdout, stderr)
	}
	if code, _, stderr := runTool(t, getenv, "-api", srv.URL, "-trigger", "hot-lead-alert", "-since", "1h"); code != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("without --ca-file: exit %d, stderr %s; want a certificate error", code, stderr)
	}
	if code, _, stderr := runTool(t, getenv, "-api", srv.URL, "-insecure-skip-verify", "-trigger", "hot-lead-alert", "-since", "1h"); code != 0 {
		t.Errorf("with --insecure-skip-verify: exit %d, stderr %s", code, stderr)
	}
}

// TestBacktestErrors: an API error prints its message and fields and
// exits 1; a 429 says when to retry; a usage error exits 2 before any
// request.
func TestBacktestErrors(t *testing.T) {
	srv, seen := newAPI(t, false, http.StatusBadRequest,
		`{"error":{"status":400,"message":"invalid backtest: rearm_below: must be below the score_threshold 75; until: must be after since","fields":[{"field":"rearm_below","message":"must be below the score_threshold 75"},{"field":"until","message":"must be after since"}]}}`, nil)
	getenv := env(map[string]string{"API": srv.URL, "TOKEN": "t"})
	code, stdout, stderr := runTool(t, getenv, "-trigger", "hot-lead-alert", "-since", "1h", "-rearm-below", "80")
	want := "backtest: the API answered 400: invalid backtest: rearm_below: must be below the score_threshold 75; until: must be after since\n" +
		"  rearm_below: must be below the score_threshold 75\n" +
		"  until: must be after since\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and\n%s", code, stdout, stderr, want)
	}

	busy, _ := newAPI(t, false, http.StatusTooManyRequests,
		`{"error":{"status":429,"message":"the operator already runs 2 backtests, its most at once; retry shortly"}}`, map[string]string{"Retry-After": "5"})
	code, _, stderr = runTool(t, getenv, "-api", busy.URL, "-trigger", "hot-lead-alert", "-since", "1h")
	if code != 1 || !strings.Contains(stderr, "429: the operator already runs 2 backtests") || !strings.Contains(stderr, "retry after 5s") {
		t.Errorf("429: exit %d, stderr %q", code, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-since", "1h"}, "--trigger is required"},
		{[]string{"-trigger", "x"}, "--since is required"},
		{[]string{"-trigger", "x", "-since", "yesterday"}, "--since: \"yesterday\": want an RFC 3339 time"},
		{[]string{"-trigger", "x", "-since", "1h", "-rearm-below", "high"}, "--rearm-below \"high\": want an integer"},
		{[]string{"-trigger", "x", "-since", "1h", "-token", "a", "-token-file", "f"}, "--token and --token-file: give one"},
		{[]string{"-trigger", "x", "-since", "1h", "-score-threshold", "7.5"}, "invalid value"},
	} {
		code, _, stderr := runTool(t, getenv, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, _, stderr := runTool(t, env(map[string]string{"API": srv.URL}), "-trigger", "x", "-since", "1h"); code != 2 || !strings.Contains(stderr, "a token is required") {
		t.Errorf("without a token: exit %d, stderr %q", code, stderr)
	}
	if len(*seen) != 1 {
		t.Errorf("%d requests to the API, want 1: usage errors send none", len(*seen))
	}
}
