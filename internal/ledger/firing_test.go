package ledger

import "testing"

func TestIsFiringIDKnowsFiringIDs(t *testing.T) {
	if id := FiringID("acme", "uid", "ld_1", "evt-1"); !IsFiringID(id) {
		t.Fatalf("IsFiringID(%q) = false for an id FiringID made", id)
	}
	for _, id := range []string{
		"", "mtf_", "not-a-firing", "mtf_00000000000000000000000000000000x",
		"mtf_0000000000000000000000000000000", "mtf_0000000000000000000000000000000G",
		"MTF_00000000000000000000000000000000", "mtf_ABCDEF00000000000000000000000000",
	} {
		if IsFiringID(id) {
			t.Errorf("IsFiringID(%q) = true", id)
		}
	}
}
