// Command publish sends engagement events to the operator's event stream,
// as any NATS client can: to the OU's subject, with the event id as the
// message id. The local system prints how to use it.
//
//	go run ./hack/publish --server nats://127.0.0.1:4222 --ou demo \
//	  --lead ld_123 --type demo_request --score 82
//
// or, with a JSON event on standard input (one per line):
//
//	echo '{"id":"evt-1","lead_id":"ld_1","event_type":"page_view","score":10}' | go run ./hack/publish --server ... --ou demo -
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/leadvibe/milestone-triggers-operator/internal/stream"
)

func main() {
	server := flag.String("server", nats.DefaultURL, "NATS server URL.")
	ou := flag.String("ou", "demo", "The OU (namespace) the event belongs to.")
	id := flag.String("id", "", "Event id; generated when empty.")
	lead := flag.String("lead", "ld_123", "Lead id.")
	typ := flag.String("type", "page_view", "Event type.")
	score := flag.Int64("score", 0, "The lead's score after this event.")
	flag.Parse()

	if err := run(*server, *ou, flag.Args(), stream.Event{ID: *id, LeadID: *lead, EventType: *typ, Score: *score}); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func run(server, ou string, args []string, flagEvent stream.Event) error {
	nc, err := nats.Connect(server, nats.Name("milestone-triggers-publish"))
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

	if len(args) == 1 && args[0] == "-" {
		scanner := bufio.NewScanner(os.Stdin)
		scanner.Buffer(make([]byte, stream.MaxEventBytes), stream.MaxEventBytes)
		for line := 1; scanner.Scan(); line++ {
			if len(scanner.Bytes()) == 0 {
				continue
			}
			ev, err := stream.DecodeEvent(scanner.Bytes(), time.Now())
			if err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
			if err := publish(ctx, js, ou, ev); err != nil {
				return err
			}
		}
		return scanner.Err()
	}

	ev := flagEvent
	if ev.ID == "" {
		ev.ID = fmt.Sprintf("evt-%d", time.Now().UnixNano())
	}
	ev.CreatedAt = time.Now().UTC()
	// Decode what we built, so the tool refuses what the operator would.
	if _, err := stream.DecodeEvent(ev.Encode(), ev.CreatedAt); err != nil {
		return err
	}
	return publish(ctx, js, ou, ev)
}

func publish(ctx context.Context, js jetstream.JetStream, ou string, ev stream.Event) error {
	ack, err := js.Publish(ctx, stream.EventSubject(ou), ev.Encode(), jetstream.WithMsgID(ev.ID))
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	dup := ""
	if ack.Duplicate {
		dup = " (duplicate, dropped by the stream)"
	}
	fmt.Printf("published %s for lead %s (%s, score %d) to %s, sequence %d%s\n", ev.ID, ev.LeadID, ev.EventType, ev.Score, stream.EventSubject(ou), ack.Sequence, dup)
	return nil
}
