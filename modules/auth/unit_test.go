package auth

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

func parseMsg(t *testing.T, text string) *msg.Msg {
	t.Helper()
	m, err := msg.Parse([]byte(strings.ReplaceAll(text, "\n", "\r\n")), netip.MustParseAddrPort("192.0.2.1:5060"), nil, msg.UDP)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// consume_credentials removes only the header that was used: another
// proxy's credentials (folded here) go on.
func TestRemoveHeaderAtKeepsOthers(t *testing.T) {
	m := parseMsg(t, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"+
		"From: <sip:alice@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: c\nCSeq: 1 INVITE\n"+
		"Proxy-Authorization: Digest username=\"a\", realm=\"other.example\",\n nonce=\"x\", uri=\"sip:b\", response=\""+md5Resp+"\"\n"+
		"Proxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:bob@example.com\", response=\""+md5Resp+"\"\n"+
		"Content-Length: 0\n\n")
	idx, c, found, err := findCredentials(m, Proxy, "example.com")
	if err != nil || !found || c.Username != "alice" {
		t.Fatalf("find: %v %v %+v", err, found, c)
	}
	if err := removeHeaderAt(m, idx); err != nil {
		t.Fatal(err)
	}
	var b msg.Builder
	m.BuildRequest(&b, msg.ForwardOpts{RURI: "sip:bob@example.com", MaxFwd: -1})
	out := string(b.B)
	if strings.Contains(out, `username="alice"`) || !strings.Contains(out, `Proxy-Authorization: Digest username="a", realm="other.example", nonce="x"`) {
		t.Fatalf("forwarded:\n%s", out)
	}
	// The only header: removed.
	m = parseMsg(t, "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"+
		"From: <sip:alice@example.com>;tag=1\nTo: <sip:alice@example.com>\nCall-ID: c\nCSeq: 1 REGISTER\n"+
		"Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", response=\""+md5Resp+"\"\n"+
		"Content-Length: 0\n\n")
	idx, _, _, _ = findCredentials(m, WWW, "example.com")
	_ = removeHeaderAt(m, idx)
	m.BuildRequest(&b, msg.ForwardOpts{RURI: "sip:example.com", MaxFwd: -1})
	if strings.Contains(string(b.B), "Authorization") {
		t.Fatalf("forwarded:\n%s", b.B)
	}
}

func TestCheckIdentity(t *testing.T) {
	mk := func(method, ruri, from, to string) *msg.Msg {
		return parseMsg(t, method+" "+ruri+" SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"+
			"From: <"+from+">;tag=1\nTo: <"+to+">\nCall-ID: c\nCSeq: 1 "+method+"\nContent-Length: 0\n\n")
	}
	alice := &Credentials{Username: "alice", User: "alice"}
	cases := []struct {
		m               *msg.Msg
		useDomain, skip bool
		want            int
	}{
		{mk("REGISTER", "sip:example.com", "sip:alice@example.com", "sip:alice@example.com"), false, false, OK},
		{mk("REGISTER", "sip:example.com", "sip:bob@example.com", "sip:alice@example.com"), false, false, UserMismatch},
		{mk("REGISTER", "sip:example.com", "sip:alice@a.example", "sip:alice@b.example"), false, false, OK},
		{mk("REGISTER", "sip:example.com", "sip:alice@a.example", "sip:alice@b.example"), true, false, UserMismatch},
		{mk("PUBLISH", "sip:alice@example.com", "sip:alice@example.com", "sip:alice@example.com"), true, false, OK},
		{mk("PUBLISH", "sip:bob@example.com", "sip:alice@example.com", "sip:alice@example.com"), false, false, UserMismatch},
		{mk("INVITE", "sip:bob@example.com", "sip:alice@example.com", "sip:bob@example.com"), false, false, OK},
		{mk("INVITE", "sip:bob@example.com", "sip:anonymous@anonymous.invalid", "sip:bob@example.com"), false, false, UserMismatch},
		{mk("INVITE", "sip:bob@example.com", "sip:anonymous@anonymous.invalid", "sip:bob@example.com"), false, true, OK},
		{mk("SUBSCRIBE", "sip:bob@example.com", "sip:anonymous@anonymous.invalid", "sip:bob@example.com"), false, true, UserMismatch},
	}
	for i, c := range cases {
		if got := CheckIdentity(c.m, alice, c.useDomain, c.skip); got != c.want {
			t.Errorf("case %d (%s): %d, want %d", i, c.m.Method(), got, c.want)
		}
	}
	if CheckIdentity(cases[0].m, nil, false, false) != Error {
		t.Error("no credentials on REGISTER")
	}
}

func TestFailureTrackerBounds(t *testing.T) {
	tr := newFailureTracker(3, time.Minute)
	now := time.Unix(1000, 0)
	ip := netip.MustParseAddr("192.0.2.1")
	for i, u := range []string{"a", "b", "c", "a", "d"} {
		tr.record(ip, u, -2, now.Add(time.Duration(i)*time.Second))
	}
	// "b" was the least recently failed when "d" came.
	got := tr.list(netip.Addr{}, now.Add(5*time.Second))
	if len(got) != 3 || got[0].User != "a" || got[0].Count != 2 || got[0].First != 1000 || got[0].Last != 1003 {
		t.Fatalf("%+v", got)
	}
	for _, f := range got {
		if f.User == "b" {
			t.Fatalf("b kept: %+v", got)
		}
	}
	// Expiry, long user names, IPv4-mapped addresses as IPv4.
	tr.record(netip.MustParseAddr("::ffff:192.0.2.2"), strings.Repeat("x", 500), -3, now.Add(10*time.Second))
	got = tr.list(netip.MustParseAddr("192.0.2.2"), now.Add(10*time.Second))
	if len(got) != 1 || len(got[0].User) != maxTrackedUser || got[0].IP != "192.0.2.2" {
		t.Fatalf("%+v", got)
	}
	if got := tr.list(netip.Addr{}, now.Add(65*time.Second)); len(got) != 1 {
		t.Fatalf("after expiry: %+v", got)
	}
	if n := tr.count(netip.MustParseAddr("192.0.2.2"), now.Add(65*time.Second)); n != 1 {
		t.Errorf("count %d", n)
	}
	off := newFailureTracker(0, time.Minute)
	off.record(ip, "a", -2, now)
	if len(off.list(netip.Addr{}, now)) != 0 {
		t.Error("disabled tracker recorded")
	}
}

// The API lister instantiates modules without a core: no I/O, no error.
func TestNewWithoutCore(t *testing.T) {
	for _, name := range []string{"auth", "auth_db"} {
		def := kemi.LookupModule(name)
		if def == nil {
			continue // auth_db is not linked into this test binary
		}
		ps, _, err := kemi.ValidateParams(def, nil)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := def.New(&kemi.Env{Params: ps})
		if err != nil || len(inst.Exports()) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
