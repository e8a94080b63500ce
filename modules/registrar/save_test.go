package registrar_test

import (
	"strings"
	"testing"
	"time"
)

func TestRegisterListsBindingsAndRefreshes(t *testing.T) {
	n := startNode(t, "", nil, nil)
	rep := n.register(t, "alice", "c1", 1, []string{"<sip:alice@192.0.2.1:5060>"}, "User-Agent: phone/1")
	if code(rep) != 200 {
		t.Fatalf("first REGISTER: %q", rep)
	}
	if e := expiresOf(t, rep, "sip:alice@192.0.2.1:5060"); e < 3590 || e > 3600 {
		t.Errorf("default expiry %d, want 3600", e)
	}
	if header(rep, "Date") == "" {
		t.Error("200 OK without Date")
	}
	// A second device (another Call-ID) adds a binding; both are listed.
	rep = n.register(t, "alice", "c2", 1, []string{"<sip:alice@192.0.2.2:5070;transport=tcp>;expires=300"})
	ct := header(rep, "Contact")
	if !strings.Contains(ct, "<sip:alice@192.0.2.1:5060>;expires=") || !strings.Contains(ct, "<sip:alice@192.0.2.2:5070;transport=tcp>;expires=300") {
		t.Fatalf("bindings after the second REGISTER: %q", ct)
	}
	// A refresh with the Expires header and a higher CSeq changes the expiry.
	rep = n.register(t, "alice", "c1", 2, []string{"<sip:alice@192.0.2.1:5060>"}, "Expires: 120")
	if e := expiresOf(t, rep, "sip:alice@192.0.2.1:5060"); e != 120 {
		t.Errorf("refreshed expiry %d, want 120", e)
	}
	// A REGISTER without Contact is a query: the bindings, nothing changed.
	rep = n.register(t, "alice", "c3", 1, nil, "X-Deferred: 1", "X-Flags: 2")
	if header(rep, "X-RC") != "4" || strings.Count(header(rep, "Contact"), "<sip:") != 2 {
		t.Errorf("query: rc %q, contacts %q", header(rep, "X-RC"), header(rep, "Contact"))
	}
	// The AoR is case-insensitive (case_sensitive=0): ALICE is alice.
	rep = n.register(t, "ALICE", "c3", 2, nil)
	if strings.Count(header(rep, "Contact"), "<sip:") != 2 {
		t.Errorf("ALICE query: %q", header(rep, "Contact"))
	}
}

func TestSaveReturnCodes(t *testing.T) {
	n := startNode(t, "", map[string]any{"max_contacts": 2}, nil)
	d := []string{"X-Deferred: 1", "X-Flags: 2"}
	rc := func(rep string) string { return header(rep, "X-RC") }
	if r := rc(n.register(t, "bob", "b1", 1, []string{"<sip:bob@192.0.2.1>"}, d...)); r != "1" {
		t.Errorf("insert: rc %s, want 1", r)
	}
	if r := rc(n.register(t, "bob", "b1", 2, []string{"<sip:bob@192.0.2.1>"}, d...)); r != "2" {
		t.Errorf("update: rc %s, want 2", r)
	}
	if r := rc(n.register(t, "bob", "b1", 3, []string{"<sip:bob@192.0.2.1>;expires=0"}, d...)); r != "3" {
		t.Errorf("delete: rc %s, want 3", r)
	}
	rep := n.register(t, "bob", "b2", 1, []string{"<sip:bob@192.0.2.1>", "<sip:bob@192.0.2.2>", "<sip:bob@192.0.2.3>"}, d...)
	if rc(rep) != "-2" || code(rep) != 503 {
		t.Errorf("too many contacts: rc %s, reply %d", rc(rep), code(rep))
	}
}

func TestUnregister(t *testing.T) {
	n := startNode(t, lookupSteps, nil, nil)
	n.register(t, "carol", "k1", 1, []string{"<sip:carol@192.0.2.1>", "<sip:carol@192.0.2.2>"})
	n.register(t, "carol", "k2", 1, []string{"<sip:carol@192.0.2.3>"})
	// expires=0 on one contact removes that binding only.
	rep := n.register(t, "carol", "k1", 2, []string{"<sip:carol@192.0.2.1>;expires=0"})
	if ct := header(rep, "Contact"); strings.Contains(ct, "192.0.2.1>") || strings.Count(ct, "<sip:") != 2 {
		t.Errorf("after expires=0: %q", ct)
	}
	// The Expires header 0 removes the listed contact.
	rep = n.register(t, "carol", "k2", 2, []string{"<sip:carol@192.0.2.3>"}, "Expires: 0")
	if ct := header(rep, "Contact"); strings.Count(ct, "<sip:") != 1 {
		t.Errorf("after Expires: 0: %q", ct)
	}
	// "*" needs Expires: 0 ...
	if rep := n.register(t, "carol", "k3", 1, []string{"*"}); code(rep) != 400 {
		t.Errorf("star without Expires: %d", code(rep))
	}
	// ... cannot be mixed ...
	if rep := n.register(t, "carol", "k3", 2, []string{"*", "<sip:carol@192.0.2.9>"}, "Expires: 0"); code(rep) != 400 {
		t.Errorf("star with another contact: %d", code(rep))
	}
	// ... and removes every binding.
	rep = n.register(t, "carol", "k3", 3, []string{"*"}, "Expires: 0", "X-Deferred: 1", "X-Flags: 2")
	if code(rep) != 200 || header(rep, "Contact") != "" || header(rep, "X-RC") != "3" {
		t.Errorf("star: %d rc %q contact %q", code(rep), header(rep, "X-RC"), header(rep, "Contact"))
	}
	n.expect(t, "INVITE", "sip:carol@example.com", "lookup", "-1", "sip:carol@example.com", "nil", "")
}

const lookupSteps = `
function lookup()
	local rc = KSR.registrar.lookup("location")
	return rc, KSR.pv.get("$ru"), KSR.pv.get("$du"), KSR.regtest.branches()
end
function lookup_dset()
	local rc = KSR.registrar.lookup_to_dset("location", "")
	return rc, KSR.pv.get("$ru"), KSR.regtest.branches()
end
`

func TestMinMaxExpires(t *testing.T) {
	n := startNode(t, lookupSteps, map[string]any{"min_expires": 60, "min_expires_mode": 1, "max_expires": 600}, nil)
	rep := n.register(t, "dave", "d1", 1, []string{"<sip:dave@192.0.2.1>;expires=30"})
	if code(rep) != 423 || header(rep, "Min-Expires") != "60" || header(rep, "P-Registrar-Error") == "" {
		t.Fatalf("expires below min_expires: %q", rep)
	}
	n.expect(t, "INVITE", "sip:dave@example.com", "lookup", "-1", "sip:dave@example.com", "nil", "")
	rep = n.register(t, "dave", "d1", 2, []string{"<sip:dave@192.0.2.1>;expires=7200"})
	if e := expiresOf(t, rep, "sip:dave@192.0.2.1"); e != 600 {
		t.Errorf("expires above max_expires: %d, want 600", e)
	}
	// min_expires_mode 0 raises instead of refusing.
	m := startNode(t, "", map[string]any{"min_expires": 60}, nil)
	rep = m.register(t, "dave", "d1", 1, []string{"<sip:dave@192.0.2.1>;expires=30"})
	if e := expiresOf(t, rep, "sip:dave@192.0.2.1"); e != 60 {
		t.Errorf("raised expiry %d, want 60", e)
	}
}

func TestMaxContactsReply(t *testing.T) {
	n := startNode(t, "", map[string]any{"max_contacts": 1, "retry_after": 30}, nil)
	n.register(t, "erin", "e1", 1, []string{"<sip:erin@192.0.2.1>"})
	rep := n.register(t, "erin", "e2", 1, []string{"<sip:erin@192.0.2.2>"})
	if code(rep) != 503 || header(rep, "Retry-After") != "30" || header(rep, "P-Registrar-Error") != "Too many registered contacts" {
		t.Fatalf("max_contacts: %q", rep)
	}
	// The refused REGISTER changed nothing; its reply lists the binding.
	if ct := header(rep, "Contact"); !strings.HasPrefix(ct, "<sip:erin@192.0.2.1>;expires=") || strings.Contains(ct, "192.0.2.2") {
		t.Errorf("503 lists %q", ct)
	}
	// Flag 0x04 keeps one contact per AoR: the new one replaces the old.
	rep = n.register(t, "erin", "e2", 2, []string{"<sip:erin@192.0.2.2>"}, "X-Flags: 4")
	if ct := header(rep, "Contact"); code(rep) != 200 || !strings.HasPrefix(ct, "<sip:erin@192.0.2.2>") || strings.Contains(ct, "192.0.2.1") {
		t.Errorf("flag 0x04: %d %q", code(rep), ct)
	}
}

func TestCSeqOrdering(t *testing.T) {
	n := startNode(t, "", nil, nil)
	n.register(t, "fred", "f1", 5, []string{"<sip:fred@192.0.2.1>"})
	rep := n.register(t, "fred", "f1", 3, []string{"<sip:fred@192.0.2.1>"}, "Expires: 100")
	if code(rep) != 400 || header(rep, "P-Registrar-Error") != "Invalid CSeq number" {
		t.Errorf("older CSeq: %q", rep)
	}
	if !strings.Contains(header(rep, "Contact"), "<sip:fred@192.0.2.1>;expires=") {
		t.Errorf("400 without the current binding: %q", header(rep, "Contact"))
	}
	// The same CSeq within cseq_delay is a retransmission: answered, not applied.
	rep = n.register(t, "fred", "f1", 5, []string{"<sip:fred@192.0.2.1>"}, "Expires: 100")
	if code(rep) != 200 || expiresOf(t, rep, "sip:fred@192.0.2.1") < 3500 {
		t.Errorf("retransmission: %q", rep)
	}
	// Another Call-ID has its own CSeq space.
	if rep := n.register(t, "fred", "f2", 1, []string{"<sip:fred@192.0.2.1>"}, "Expires: 100"); expiresOf(t, rep, "sip:fred@192.0.2.1") != 100 {
		t.Errorf("new Call-ID: %q", rep)
	}
}

func TestBadRequests(t *testing.T) {
	n := startNode(t, "", nil, nil)
	for _, tc := range []struct {
		contacts []string
		want     string
	}{
		{[]string{"<sip:g@192.0.2.1>;q=2"}, "Invalid q param in contact"},
		{[]string{"<sip:g@192.0.2.1>;q=0.5;q"}, "Invalid q param in contact"},
		{[]string{"<sip:g@192.0.2.1> junk"}, "Contact parse error"},
		{[]string{"<sip:g@192.0.2.1>;a=\"x"}, "Contact parse error"},
		{[]string{"<sip:g@192.0.2.1>;reg-id=0;+sip.instance=\"<urn:uuid:1>\""}, "Invalid reg-id param in contact"},
	} {
		rep := n.register(t, "gina", "g1", 1, tc.contacts)
		if code(rep) != 400 || !strings.HasPrefix(header(rep, "P-Registrar-Error"), tc.want) {
			t.Errorf("%q: %d %q", tc.contacts, code(rep), header(rep, "P-Registrar-Error"))
		}
	}
	// save replied itself: sl_reply_error in the script found the reply sent.
	if n.h.LogContains("a second reply was sent") {
		t.Error("sl_reply_error sent a second reply after a refused save")
	}
	// An unreadable Expires header or expires parameter gives the default.
	rep := n.register(t, "gina", "g2", 1, []string{"<sip:g@192.0.2.1>;expires=abc"}, "Expires: soon")
	if e := expiresOf(t, rep, "sip:g@192.0.2.1"); e < 3590 {
		t.Errorf("unreadable expiry: %d", e)
	}
}

func TestDeferredReplyAndHeaders(t *testing.T) {
	n := startNode(t, "", nil, nil)
	// 0x02|0x10: the headers go to the reply lumps, the reply waits.
	rep := n.register(t, "hank", "h1", 1, []string{"<sip:hank@192.0.2.1>"}, "X-Deferred: 1", "X-Flags: 18")
	if code(rep) != 200 || header(rep, "X-RC") != "1" || strings.Count(rep, "Contact: <sip:hank@192.0.2.1>") != 2 {
		// Once from the prepared reply, once from the lumps (Kamailio does the same).
		t.Errorf("deferred reply with prepared headers: %q", rep)
	}
}

func TestExpiryRemovesAndRaisesEvent(t *testing.T) {
	n := startNode(t, lookupSteps, nil, nil)
	n.register(t, "ivy", "i1", 1, []string{"<sip:ivy@192.0.2.1>;expires=2"})
	n.register(t, "ivy", "i2", 1, []string{"<sip:ivy@192.0.2.2>;expires=300"})
	n.expect(t, "INVITE", "sip:ivy@example.com", "lookup", "1", "sip:ivy@192.0.2.1", "nil",
		"sip:ivy@192.0.2.2   -1 0")
	start := time.Now()
	eventually(t, 5*time.Second, func() string {
		if !n.h.LogContains("EXPIRED usrloc:contact-expired ivy sip:ivy@192.0.2.1 location 1") {
			return "no usrloc:contact-expired event"
		}
		return ""
	})
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("expired after %v", d)
	}
	n.expect(t, "INVITE", "sip:ivy@example.com", "lookup", "1", "sip:ivy@192.0.2.2", "nil", "")
}
