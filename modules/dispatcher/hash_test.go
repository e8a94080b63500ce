package dispatcher

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// The expected values were computed by stock Kamailio 5.6
// (kamcmd dispatcher.hash), so a key picks the same slot of a set here.
func TestHashMatchesKamailio(t *testing.T) {
	for _, tc := range []struct {
		x, y string
		hasY bool
		want uint32
	}{
		{"abc", "", false, 7167810},
		{"alice", "server.com", true, 1412806172},
		{"bob", "server.com", true, 3883463682},
		{"x", "", false, 119},
		{"0123456789abcdef-callid@host", "", false, 122221286},
		{"é€ü", "", false, 3145334927}, // bytes >= 0x80 are signed, as C chars
	} {
		if got := hashStrings(tc.x, tc.y, tc.hasY); got != tc.want {
			t.Errorf("hash(%q, %q) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
	}
	if hashStrings("", "", false) == 0 {
		t.Error("hash of nothing is 0; Kamailio never returns 0")
	}
}

func TestURIHashKeys(t *testing.T) {
	for _, tc := range []struct {
		uri        string
		userOnly   bool
		user, host string
	}{
		{"sip:alice@example.com", false, "alice", "example.com"},
		{"sip:alice@example.com:5060", false, "alice", "example.com"},
		{"sip:alice@example.com:5080", false, "alice", "example.com:5080"},
		{"sips:alice@example.com:5061", false, "alice", "example.com"},
		{"sips:alice@example.com:5060", false, "alice", "example.com:5060"},
		{"sip:alice@example.com:5080", true, "alice", ""},
	} {
		u := &sip.Uri{}
		if err := sip.ParseUri(tc.uri, u); err != nil {
			t.Fatal(err)
		}
		x, y, hasY := uriHashKeys(u, tc.userOnly)
		if x != tc.user || y != tc.host || hasY == tc.userOnly {
			t.Errorf("%s (user only %v): %q %q %v, want %q %q", tc.uri, tc.userOnly, x, y, hasY, tc.user, tc.host)
		}
	}
}
