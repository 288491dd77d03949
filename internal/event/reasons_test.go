package event

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each rejected event's reason code is the one its first problem was
// given where the decoder found it.
func TestRejectReason(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{`{"id":`, ReasonInvalidJSON},
		{`[1,2]`, ReasonNotAnObject},
		{`"x"`, ReasonNotAnObject},
		{`{"lead_id":"l","event_type":"t","score":1}`, ReasonMissingField},
		{`{"id":"a","lead_id":"l","event_type":"t","score":1,"x":1}`, ReasonUnknownField},
		{`{"id":"a","id":"b","lead_id":"l","event_type":"t","score":1}`, ReasonDuplicateField},
		{`{"id":"a","lead_id":"l","event_type":"t","score":"high"}`, ReasonInvalidValue},
		{`{"id":"` + strings.Repeat("a", MaxIDLength+1) + `","lead_id":"l","event_type":"t","score":1}`, ReasonTooLarge},
		{`{"id":"a","lead_id":"l","event_type":"t","score":1,"metadata":{"k":"` + strings.Repeat("v", MaxMetadataBytes) + `"}}`, ReasonTooLarge},
		{`{"id":"a","lead_id":"l","event_type":"t","score":1,"pad":"` + strings.Repeat("v", MaxEventBytes) + `"}`, ReasonTooLarge},
	} {
		_, err := DecodeEvent([]byte(tt.in), testNow)
		if got := RejectReason(err); got != tt.want {
			t.Errorf("%.60s: reason %q, want %q (%v)", tt.in, got, tt.want, err)
		}
	}
	if got := RejectReason(fmt.Errorf("reading: %w", ErrNoOU)); got != ReasonNoOU {
		t.Errorf("no OU: %q", got)
	}
	if got := RejectReason(errors.New("something else")); got != ReasonOther {
		t.Errorf("another error: %q", got)
	}
}
