package auth

import (
	"strings"
	"testing"
)

func TestNonceRoundTrip(t *testing.T) {
	k := deriveKeys([]byte("a shared secret of some length..."))
	f := bindFields{uri: "sip:example.com", callID: "c1", fromTag: "t1", srcIP: "192.0.2.1"}
	for _, checks := range []uint8{0, CheckURI, checkAll} {
		n := k.issue(AlgSHA256, checks, f, 1000, 300)
		if strings.ContainsAny(n, "\"\\ ,=+/") {
			t.Fatalf("nonce %q has characters that need quoting care", n)
		}
		ni, err := k.open(n)
		if err != nil {
			t.Fatalf("checks %d: %v", checks, err)
		}
		if ni.alg != AlgSHA256 || ni.checks != checks || ni.issued != 1000 || ni.expires != 1300 || ni.id == 0 {
			t.Fatalf("checks %d: %+v", checks, ni)
		}
		if checks != 0 && ni.binding != k.binding(checks, f) {
			t.Fatalf("binding lost")
		}
	}
	// Two nonces differ (random id).
	if k.issue(AlgMD5, 0, f, 1, 1) == k.issue(AlgMD5, 0, f, 1, 1) {
		t.Error("two nonces are equal")
	}
}

func TestNonceForgery(t *testing.T) {
	k := deriveKeys([]byte("secret one"))
	other := deriveKeys([]byte("secret two"))
	n := k.issue(AlgMD5, 0, bindFields{}, 1000, 300)
	if _, err := other.open(n); err == nil {
		t.Error("a nonce of another secret opened")
	}
	// Flipping any character breaks it (the MAC, or base64 strictness).
	for i := range n {
		b := []byte(n)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := k.open(string(b)); err == nil {
			t.Errorf("nonce with character %d changed opened", i)
		}
	}
	for _, bad := range []string{"", "x", "abc=", strings.Repeat("A", 47), strings.Repeat("A", 200), n + "A", n[:len(n)-1]} {
		if _, err := k.open(bad); err == nil {
			t.Errorf("%q opened", bad)
		}
	}
	// The binding of other fields differs.
	f := bindFields{uri: "sip:a", callID: "1"}
	if k.binding(CheckURI|CheckCallID, f) == k.binding(CheckURI|CheckCallID, bindFields{uri: "sip:a1", callID: ""}) {
		t.Error("field boundaries are not part of the binding")
	}
	if k.binding(CheckURI, f) == k.binding(CheckCallID, bindFields{callID: "sip:a"}) {
		t.Error("the selected checks are not part of the binding")
	}
}

func TestNonceTableCounts(t *testing.T) {
	tab := newNonceTable(64)
	const id, exp = 42, 2000
	if v := tab.check(id, exp, 1, true); v != ncFresh {
		t.Fatalf("first use: %v", v)
	}
	if v := tab.commit(id, exp, 1, true, 1000); v != ncFresh {
		t.Fatalf("commit: %v", v)
	}
	if v := tab.check(id, exp, 1, true); v != ncReused {
		t.Errorf("same nc again: %v", v)
	}
	if v := tab.commit(id, exp, 1, true, 1000); v != ncReused {
		t.Errorf("commit same nc again: %v", v)
	}
	if v := tab.commit(id, exp, 3, true, 1000); v != ncFresh {
		t.Errorf("higher nc: %v", v)
	}
	if v := tab.check(id, exp, 2, true); v != ncReused {
		t.Errorf("lower nc after 3: %v", v)
	}
	// One-time use: any second use is a reuse.
	if v := tab.commit(7, exp, 0, false, 1000); v != ncFresh {
		t.Fatal(v)
	}
	if v := tab.check(7, exp, 0, false); v != ncReused {
		t.Errorf("one-time nonce reused: %v", v)
	}
}

// A full bucket drops the entry expiring first and from then on reports
// older nonces it cannot vouch for as forgotten, never as fresh.
func TestNonceTableEviction(t *testing.T) {
	tab := newNonceTable(ncWays) // one bucket
	if len(tab.buckets) != 1 {
		t.Fatalf("%d buckets", len(tab.buckets))
	}
	for i := uint64(1); i <= ncWays; i++ {
		tab.commit(i, uint32(1000+i), 1, true, 500)
	}
	// A ninth nonce pushes out id 1 (expires 1001).
	tab.commit(100, 5000, 1, true, 500)
	if v := tab.check(1, 1001, 1, true); v != ncForgotten {
		t.Errorf("evicted nonce replayed: %v, want forgotten", v)
	}
	if v := tab.check(2, 1002, 1, true); v != ncReused {
		t.Errorf("kept nonce: %v", v)
	}
	// A new nonce expiring after the evicted ones is fresh.
	if v := tab.check(200, 6000, 1, true); v != ncFresh {
		t.Errorf("new nonce: %v", v)
	}
	// Expired entries are reused before live ones are dropped.
	tab2 := newNonceTable(ncWays)
	for i := uint64(1); i <= ncWays; i++ {
		tab2.commit(i, uint32(100+i), 1, true, 50)
	}
	tab2.commit(300, 9000, 1, true, 105) // ids 1..4 have expired
	if tab2.buckets[0].evictedUntil != 0 {
		t.Errorf("evictedUntil %d after reusing an expired slot", tab2.buckets[0].evictedUntil)
	}
	if n := newNonceTable(1 << 20); len(n.buckets) != 1<<17 {
		t.Errorf("1M nonces: %d buckets", len(n.buckets))
	}
	if n := newNonceTable(9); len(n.buckets) != 2 {
		t.Errorf("9 nonces: %d buckets", len(n.buckets))
	}
}
