package event

import "testing"

func TestErrorStrings(t *testing.T) {
	if got := (&FieldError{Field: "score", Message: "must be an integer, got 1.5"}).Error(); got != "score: must be an integer, got 1.5" {
		t.Errorf("FieldError.Error() = %q", got)
	}
	if got := (&FieldError{Message: "invalid JSON"}).Error(); got != "invalid JSON" {
		t.Errorf("FieldError.Error() without field = %q", got)
	}
	err := &DecodeError{Errors: []FieldError{{"a", ReasonInvalidValue, "x"}, {"events[1].b", ReasonInvalidValue, "y"}}}
	if got := err.Error(); got != "a: x; events[1].b: y" {
		t.Errorf("DecodeError.Error() = %q", got)
	}
}
