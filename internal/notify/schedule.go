package notify

import "time"

// Schedule is the retry schedule: Schedule[i] is the delay before attempt
// i+1 after attempt i failed (Schedule[0] is the delay of the first
// attempt, normally 0). Its length is the number of attempts.
type Schedule []time.Duration

// DefaultSchedule makes eight attempts over about 27 hours: at once, then
// after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.
var DefaultSchedule = Schedule{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// maxRetryAfter caps a receiver's Retry-After.
const maxRetryAfter = 24 * time.Hour

// Next decides what follows failed attempt number attempt (counting from
// 1) that ended with err: retry after the returned delay, or stop. The
// delay is the schedule's, spread by ±10% with jitter (a number in [0, 1)
// the caller draws), and never shorter than the receiver's Retry-After.
// It is a pure function: no clock, no randomness of its own.
func (s Schedule) Next(attempt int, err error, jitter float64) (delay time.Duration, retry bool) {
	if !IsRetryable(err) || attempt >= len(s) {
		return 0, false
	}
	base := s[attempt]
	delay = base + time.Duration(float64(base)*0.2*(jitter-0.5))
	if ra := min(RetryAfter(err), maxRetryAfter); ra > delay {
		delay = ra
	}
	return delay, true
}

// Total is the time from the first attempt to the last, without jitter.
func (s Schedule) Total() time.Duration {
	var t time.Duration
	for _, d := range s[min(1, len(s)):] {
		t += d
	}
	return t
}
