// Command backtest runs a backtest of a trigger through the REST API's
// POST /triggers/{id}/backtest: it replays the OU's stored events through
// the evaluator as if the trigger had existed all along, with its own
// definition or the overrides given, and prints how often, and for how
// many leads, it would have fired. It sends nothing and changes nothing.
//
//	go run ./hack/backtest --api $API --token-file bin/local-state/token --trigger hot-lead-alert --since 168h
//	go run ./hack/backtest --trigger hot-lead-alert --since 2026-11-24T00:00:00Z --score-threshold 80 --rearm-below 60 --cooldown 1h
//
// --api and --token default to the environment's API and TOKEN, as the
// README's walk-through sets them. --since and --until are RFC 3339 times
// or durations such as 168h, meaning that long before now. Only the
// overrides given are sent; --rearm-below none and --cooldown none clear
// the trigger's own. It prints the counts, whether the backtest read
// every stored event (or what stopped it), and the first firings as a
// table; --json prints the API's answer as it came.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/restapi"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

// maxAnswerBytes bounds the answer read: a backtest's is a few KiB.
const maxAnswerBytes = 1 << 20

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain is the tool with its arguments, environment and output: 0 on
// success, 1 when the backtest fails, 2 for a usage error.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := parseFlags(fs, args, getenv, time.Now())
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errPrinted):
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "backtest:", err)
		fs.Usage()
		return 2
	}
	if err := run(cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "backtest:", err)
		return 1
	}
	return 0
}

// errPrinted is a flag error the flag package has printed already.
var errPrinted = errors.New("flag error printed")

// config is what the flags ask for.
type config struct {
	api, token, ou, trigger string
	caFile                  string
	insecureSkipVerify      bool
	timeout                 time.Duration
	json                    bool
	// body is the request: since, until and the overrides given.
	body map[string]any
}

func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, now time.Time) (config, error) {
	var (
		cfg                      config
		tokenFile                string
		since, until             string
		threshold, maxEvents     int64
		eventType, rearm, cooldn string
	)
	fs.StringVar(&cfg.api, "api", getenv("API"), "The REST API's base URL, such as http://127.0.0.1:8080 (default: $API).")
	fs.StringVar(&cfg.token, "token", "", "The bearer token: a Kubernetes token allowed to create milestonetriggers/backtest in the OU (default: $TOKEN; prefer --token-file: a flag shows in the process list).")
	fs.StringVar(&tokenFile, "token-file", "", "A file holding the bearer token, such as the local system's bin/local-state/token.")
	fs.StringVar(&cfg.ou, "ou", "", "The OU (namespace), sent as the X-LeadVibe-OU header; by default the API takes the token's service-account namespace.")
	fs.StringVar(&cfg.caFile, "ca-file", "", "PEM CA bundle to verify an https API's certificate with.")
	fs.BoolVar(&cfg.insecureSkipVerify, "insecure-skip-verify", false, "Do not verify an https API's certificate (tests only).")
	fs.StringVar(&cfg.trigger, "trigger", "", "The trigger's id (resource name). Required.")
	fs.StringVar(&since, "since", "", "Count firings from this time on: RFC 3339, or a duration such as 168h for that long before now. Required.")
	fs.StringVar(&until, "until", "", "Count firings up to this time, in the same forms (default: now).")
	fs.Int64Var(&threshold, "score-threshold", 0, "Override the trigger's score threshold.")
	fs.StringVar(&eventType, "event-type", "", `Override the trigger's event type; "" for any type.`)
	fs.StringVar(&rearm, "rearm-below", "", "Override the trigger's rearm level (below the threshold); none clears it.")
	fs.StringVar(&cooldn, "cooldown", "", "Override the trigger's cooldown, a duration such as 30m or 1h (at most 2160h); none clears it.")
	fs.Int64Var(&maxEvents, "max-events", 0, "Read at most this many events (at least 1, at most the operator's --backtest-max-events).")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "How long to wait for the answer; the operator's --backtest-time-limit bounds the backtest itself.")
	fs.BoolVar(&cfg.json, "json", false, "Print the API's JSON answer as it came, instead of the summary.")
	version.AddFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, errPrinted
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["token"] && tokenFile != "":
		return config{}, errors.New("--token and --token-file: give one")
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return config{}, fmt.Errorf("--token-file: %w", err)
		}
		if cfg.token = strings.TrimSpace(string(b)); cfg.token == "" {
			return config{}, fmt.Errorf("--token-file: %s is empty", tokenFile)
		}
	case !set["token"]:
		cfg.token = strings.TrimSpace(getenv("TOKEN"))
	}
	switch {
	case cfg.api == "":
		return config{}, errors.New("--api is required (or set API)")
	case cfg.token == "":
		return config{}, errors.New("a token is required: give --token-file, --token or set TOKEN")
	case cfg.trigger == "":
		return config{}, errors.New("--trigger is required")
	case since == "":
		return config{}, errors.New("--since is required")
	}
	if u, err := url.Parse(cfg.api); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config{}, fmt.Errorf("--api %q: want an http or https URL such as http://127.0.0.1:8080", cfg.api)
	}

	cfg.body = map[string]any{}
	t, err := parseTime(since, now)
	if err != nil {
		return config{}, fmt.Errorf("--since: %w", err)
	}
	cfg.body["since"] = t
	if set["until"] {
		if cfg.body["until"], err = parseTime(until, now); err != nil {
			return config{}, fmt.Errorf("--until: %w", err)
		}
	}
	if set["score-threshold"] {
		cfg.body["score_threshold"] = threshold
	}
	if set["event-type"] {
		cfg.body["event_type"] = eventType
	}
	if set["rearm-below"] {
		switch rearm {
		case "none", "":
			cfg.body["rearm_below"] = nil
		default:
			n, err := strconv.ParseInt(rearm, 10, 64)
			if err != nil {
				return config{}, fmt.Errorf("--rearm-below %q: want an integer, or none to clear the trigger's", rearm)
			}
			cfg.body["rearm_below"] = n
		}
	}
	if set["cooldown"] {
		if cooldn == "none" {
			cooldn = ""
		}
		cfg.body["cooldown"] = cooldn
	}
	if set["max-events"] {
		cfg.body["max_events"] = maxEvents
	}
	return cfg, nil
}

// parseTime reads an RFC 3339 time, or a duration before now, as the
// RFC 3339 text the request carries.
func parseTime(s string, now time.Time) (string, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format(time.RFC3339Nano), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return "", fmt.Errorf("%q: want an RFC 3339 time such as 2026-11-24T09:00:00Z, or a duration before now such as 168h", s)
	}
	return now.Add(-d).UTC().Truncate(time.Second).Format(time.RFC3339), nil
}

func run(cfg config, stdout io.Writer) error {
	client, err := httpClient(cfg)
	if err != nil {
		return err
	}
	body, err := json.Marshal(cfg.body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	endpoint := strings.TrimRight(cfg.api, "/") + "/triggers/" + url.PathEscape(cfg.trigger) + "/backtest"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if cfg.ou != "" {
		req.Header.Set(restapi.OUHeader, cfg.ou)
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL holds no credentials: the token is a header.
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp, answer)
	}
	if cfg.json {
		_, err := stdout.Write(answer)
		return err
	}
	var res restapi.BacktestResponse
	if err := json.Unmarshal(answer, &res); err != nil {
		return fmt.Errorf("the answer is not a backtest: %w", err)
	}
	return printSummary(stdout, res)
}

func httpClient(cfg config) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.insecureSkipVerify}
	if cfg.caFile != "" {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file: %s holds no PEM certificate", cfg.caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}

// apiError is an answer other than 200: the API's message and the fields
// it names, or the status and the start of a body in another shape.
func apiError(resp *http.Response, answer []byte) error {
	var shape struct {
		Error *restapi.Error `json:"error"`
	}
	if err := json.Unmarshal(answer, &shape); err != nil || shape.Error == nil || shape.Error.Message == "" {
		text := strings.TrimSpace(string(answer))
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		return fmt.Errorf("the API answered %s: %s", resp.Status, text)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the API answered %d: %s", resp.StatusCode, shape.Error.Message)
	for _, f := range shape.Error.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		fmt.Fprintf(&b, "\n  retry after %ss", s)
	}
	return errors.New(b.String())
}

// printSummary prints res for a person: the window and definition, the
// counts, whether every stored event was read, and the first firings.
func printSummary(w io.Writer, res restapi.BacktestResponse) error {
	d := res.Definition
	eventType, rearm, cooldown := "any", "none", "none"
	if d.EventType != "" {
		eventType = d.EventType
	}
	if d.RearmBelow != nil {
		rearm = strconv.FormatInt(*d.RearmBelow, 10)
	}
	if d.Cooldown != "" {
		cooldown = d.Cooldown
	}
	fmt.Fprintf(w, "trigger %s, firings from %s to %s\n", res.TriggerID, res.Since.Format(time.RFC3339), res.Until.Format(time.RFC3339))
	fmt.Fprintf(w, "definition: score_threshold %d, event_type %s, rearm_below %s, cooldown %s\n", d.ScoreThreshold, eventType, rearm, cooldown)
	through := "no events stored"
	if res.ScannedThrough != nil {
		through = "stored through " + res.ScannedThrough.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "events scanned: %d (%d rejected), %s\n", res.EventsScanned, res.EventsRejected, through)
	fmt.Fprintf(w, "firings: %d, leads: %d\n", res.Firings, res.Leads)
	if res.Complete {
		fmt.Fprintln(w, "complete: true")
	} else {
		fmt.Fprintf(w, "complete: false, stopped by %s: the counts cover the events read only\n", res.StoppedBy)
	}
	if len(res.FirstFirings) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nfirst firings (%d of %d):\n", len(res.FirstFirings), res.Firings)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tLEAD\tEVENT\tSCORE")
	for _, f := range res.FirstFirings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", f.At.Format(time.RFC3339), f.LeadID, f.EventID, f.Score)
	}
	return tw.Flush()
}
