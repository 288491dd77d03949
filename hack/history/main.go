// Command history prints the firing history of an OU from the operator's
// stream, as the REST API's GET /milestone-events serves it:
//
//	go run ./hack/history --server nats://127.0.0.1:4222 --ou demo [--trigger local-hook] [--lead ld_123]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/history"
	"github.com/leadvibe/milestone-triggers-operator/internal/version"
)

func main() {
	server := flag.String("server", nats.DefaultURL, "NATS server URL.")
	q := history.Query{}
	flag.StringVar(&q.OU, "ou", "demo", "The OU (namespace).")
	flag.StringVar(&q.Trigger, "trigger", "", "Only this trigger (resource name).")
	flag.StringVar(&q.LeadID, "lead", "", "Only this lead.")
	flag.IntVar(&q.Limit, "limit", 100, "Records per page.")
	version.AddFlag(flag.CommandLine)
	flag.Parse()
	if err := run(*server, q); err != nil {
		fmt.Fprintln(os.Stderr, "history:", err)
		os.Exit(1)
	}
}

func run(server string, q history.Query) error {
	nc, err := nats.Connect(server, nats.Name("milestone-triggers-history"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := history.NewReader(js)
	for {
		page, err := store.Find(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			switch r.Kind {
			case history.KindFiring:
				fmt.Printf("%s  fired     %s  trigger %s  lead %s  event %s (%s)  score %d\n",
					r.At.Format(time.RFC3339), r.FiringID, r.Trigger, r.LeadID, r.EventID, r.EventType, r.Score)
			default:
				fmt.Printf("%s  attempt   %s  %s\n", r.At.Format(time.RFC3339), r.FiringID, describeAttempt(r))
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

// describeAttempt is one attempt on one line: channel, round and number,
// destination (redacted as recorded), the receiver's answer, the time it
// took and the outcome, with the reason of a failure.
func describeAttempt(r history.Record) string {
	number := fmt.Sprintf("#%d", r.Attempt)
	if r.Round > 0 {
		number = fmt.Sprintf("round %d #%d", r.Round, r.Attempt)
	}
	answer := "no answer"
	if r.StatusCode != 0 {
		answer = fmt.Sprintf("status %d", r.StatusCode)
	}
	result := r.Outcome
	if r.Error != "" {
		result += ": " + r.Error
	}
	return fmt.Sprintf("%s %s to %s  %s  %dms  %s", r.Channel, number, r.Destination, answer, r.DurationMS, result)
}
