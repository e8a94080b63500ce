package suggest

import "testing"

func TestClosest(t *testing.T) {
	if got, d := Closest("fr_timerr", []string{"fr_inv_timer", "fr_timer", "wt_timer"}); got != "fr_timer" || d != 1 {
		t.Errorf("Closest = %q, %d", got, d)
	}
	if got, d := Closest("X", nil); got != "" || d != -1 {
		t.Errorf("no candidates: %q %d", got, d)
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
