package notify

import (
	"errors"
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	s := DefaultSchedule
	retryable := errors.New("connection refused")
	cases := []struct {
		name      string
		attempt   int
		err       error
		jitter    float64
		wantDelay time.Duration
		wantRetry bool
	}{
		{"first failure retries after 5s", 1, retryable, 0.5, 5 * time.Second, true},
		{"jitter spreads the delay down", 2, retryable, 0, 4*time.Minute + 30*time.Second, true},
		{"jitter spreads the delay up", 2, retryable, 1, 5*time.Minute + 30*time.Second, true},
		{"the last scheduled retry", 7, retryable, 0.5, 10 * time.Hour, true},
		{"exhausted after the last attempt", 8, retryable, 0.5, 0, false},
		{"permanent failures stop at once", 1, Permanentf("400 Bad Request"), 0.5, 0, false},
		{"Retry-After longer than the schedule wins", 1, &Error{Err: retryable, RetryAfter: time.Minute}, 0.5, time.Minute, true},
		{"Retry-After shorter than the schedule does not shorten it", 2, &Error{Err: retryable, RetryAfter: time.Second}, 0.5, 5 * time.Minute, true},
		{"Retry-After is capped", 1, &Error{Err: retryable, RetryAfter: 100 * time.Hour}, 0.5, 24 * time.Hour, true},
	}
	for _, tc := range cases {
		delay, retry := s.Next(tc.attempt, tc.err, tc.jitter)
		if delay != tc.wantDelay || retry != tc.wantRetry {
			t.Errorf("%s: Next(%d) = %v, %v; want %v, %v", tc.name, tc.attempt, delay, retry, tc.wantDelay, tc.wantRetry)
		}
	}
	if got := s.Total(); got < 27*time.Hour || got > 28*time.Hour {
		t.Errorf("the default schedule spans %v, want about a day", got)
	}
}
