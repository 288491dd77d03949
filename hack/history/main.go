// Command history prints the firing history of an OU from the operator's
// stream, until the REST API serves it:
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
)

func main() {
	server := flag.String("server", nats.DefaultURL, "NATS server URL.")
	q := history.Query{}
	flag.StringVar(&q.OU, "ou", "demo", "The OU (namespace).")
	flag.StringVar(&q.Trigger, "trigger", "", "Only this trigger (resource name).")
	flag.StringVar(&q.LeadID, "lead", "", "Only this lead.")
	flag.IntVar(&q.Limit, "limit", 100, "Records per page.")
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
				result := r.Outcome
				if r.Error != "" {
					result += ": " + r.Error
				}
				fmt.Printf("%s  attempt   %s  %s #%d to %s  status %d  %dms  %s\n",
					r.At.Format(time.RFC3339), r.FiringID, r.Channel, r.Attempt, r.Destination, r.StatusCode, r.DurationMS, result)
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}
