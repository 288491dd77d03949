package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestScrapeConsumed(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  float64
		found bool
	}{
		{"absent", "# HELP other_total x\nother_total 3\n", 0, false},
		{"plain", "# TYPE milestone_triggers_events_consumed_total counter\nmilestone_triggers_events_consumed_total 1.234567e+06\n", 1234567, true},
		{"labelled, summed", "milestone_triggers_events_consumed_total{ou=\"a\"} 2\nmilestone_triggers_events_consumed_total{ou=\"b\",x=\"}\"} 3 1700000000000\n", 5, true},
		{"a longer name is another metric", "milestone_triggers_events_consumed_total_created 99\nmilestone_triggers_events_consumed_total 7\n", 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			got, found, err := scrapeConsumed(context.Background(), srv.URL)
			if err != nil || got != tt.want || found != tt.found {
				t.Fatalf("scrapeConsumed = %v, %v, %v; want %v, %v, nil", got, found, err, tt.want, tt.found)
			}
		})
	}
}
