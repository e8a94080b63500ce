package topos

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend/backendtest"
)

// storeContract runs the same checks on every store.
func storeContract(t *testing.T, s Store, ns string, wait func(time.Duration)) {
	ctx := context.Background()
	d := &Dialog{ID: newID(), CallID: "c1", ATag: "at", AContact: "sip:a@1.1.1.1", AsContact: "<sip:atpsh-x@h>",
		BsContact: "<sip:btpsh-x@h>", ARR: "<sip:p1;lr>, <sip:p2;lr>", SRR: "<sip:me;lr>", Method: "INVITE", CSeq: "1", Rectime: 5}
	b := &Branch{Key: "z9hG4bKtm" + newID() + ".0", DialogID: d.ID, XVia: "SIP/2.0/UDP 1.1.1.1;branch=z9hG4bK1",
		XRR: d.ARR, SRR: d.SRR, XContact: d.AsContact, Method: "INVITE", CSeq: "1", Initial: true, CallID: "c1"}
	got, err := s.CreateInitial(ctx, ns, d, b, 2*time.Second)
	if err != nil || got != d.ID {
		t.Fatalf("CreateInitial: %q %v", got, err)
	}
	// A retransmission sent again keeps the first dialog.
	d2 := *d
	d2.ID = newID()
	if got, err := s.CreateInitial(ctx, ns, &d2, b, 2*time.Second); err != nil || got != d.ID {
		t.Fatalf("CreateInitial again: %q %v, want %q", got, err, d.ID)
	}
	if _, err := s.Dialog(ctx, ns, d2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the second dialog was stored: %v", err)
	}
	ld, err := s.Dialog(ctx, ns, d.ID)
	if err != nil || *ld != *d {
		t.Fatalf("Dialog: %+v %v\nwant %+v", ld, err, d)
	}
	lb, err := s.Branch(ctx, ns, b.Key)
	if err != nil || *lb != *b {
		t.Fatalf("Branch: %+v %v\nwant %+v", lb, err, b)
	}
	if _, err := s.Dialog(ctx, ns+"x", d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("found in another namespace: %v", err)
	}
	// Update fields and lifetimes.
	err = s.UpdateDialog(ctx, ns, d.ID, map[string]string{colBContact: "sip:b@2.2.2.2", colIFlags: "1", colBTag: "bt"},
		10*time.Second, b.Key, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ld, _ = s.Dialog(ctx, ns, d.ID)
	if ld.BContact != "sip:b@2.2.2.2" || ld.IFlags != 1 || ld.BTag != "bt" || ld.AContact != d.AContact {
		t.Errorf("after update: %+v", ld)
	}
	if err := s.UpdateDialog(ctx, ns, newID(), map[string]string{colBTag: "x"}, time.Second, "", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing dialog: %v", err)
	}
	// An in-dialog branch that shortens the dialog (BYE).
	bye := &Branch{Key: "z9hG4bKtm" + newID() + ".0", DialogID: d.ID, FromB: true, XVia: "v", XContact: "c", Method: "BYE",
		Pending: "", CSeq: "2", CallID: "c1"}
	if err := s.PutBranch(ctx, ns, bye, time.Second, d.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if lb, err := s.Branch(ctx, ns, bye.Key); err != nil || !lb.FromB || lb.Method != "BYE" {
		t.Errorf("PutBranch: %+v %v", lb, err)
	}
	wait(1500 * time.Millisecond)
	if _, err := s.Dialog(ctx, ns, d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("dialog still there after its shortened lifetime: %v", err)
	}
	if _, err := s.Branch(ctx, ns, bye.Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("branch still there after its lifetime: %v", err)
	}
	// An update after expiry does not bring a half record back.
	if err := s.UpdateDialog(ctx, ns, d.ID, map[string]string{colBTag: "late"}, time.Minute, "", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("late update: %v", err)
	}
	if _, err := s.Dialog(ctx, ns, d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("late update recreated the dialog: %v", err)
	}
}

func TestMemStore(t *testing.T) {
	s := newMemStore(1000, time.Hour)
	defer s.Close()
	now := time.Now()
	s.now = func() time.Time { return now }
	storeContract(t, s, "", func(d time.Duration) { now = now.Add(d) })
	now = now.Add(10 * time.Second) // the initial branch was given 10 s
	s.clean()
	if d, b := s.count(); d != 0 || b != 0 || s.n.Load() != 0 {
		t.Errorf("after clean: %d dialogs %d branches, n=%d", d, b, s.n.Load())
	}
}

func TestMemStoreFull(t *testing.T) {
	s := newMemStore(4, time.Hour)
	defer s.Close()
	mk := func() (*Dialog, *Branch) {
		id := newID()
		return &Dialog{ID: id}, &Branch{Key: "z9hG4bK" + id, DialogID: id}
	}
	for i := 0; i < 2; i++ {
		d, b := mk()
		if _, err := s.CreateInitial(context.Background(), "", d, b, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	d, b := mk()
	if _, err := s.CreateInitial(context.Background(), "", d, b, time.Minute); !errors.Is(err, ErrFull) {
		t.Errorf("a full store took more: %v", err)
	}
}

func TestRedisStore(t *testing.T) {
	rc := backendtest.Redis(t)
	prefix := "test:topos:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	})
	s, err := newRedisStore(backendtest.RedisURL(), prefix, time.Second, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	defer s.Close()
	storeContract(t, s, "ctx1", time.Sleep)
	keys, _ := rc.Keys(context.Background(), prefix+"ctx1:*").Result()
	for _, k := range keys {
		if ttl := rc.PTTL(context.Background(), k).Val(); ttl <= 0 {
			t.Errorf("key %s has no lifetime (%v)", k, ttl)
		}
	}
}

func TestRedisStoreDown(t *testing.T) {
	s, err := newRedisStore("redis://127.0.0.1:1/0", "x:", 50*time.Millisecond, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	defer s.Close()
	start := time.Now()
	for i := 0; i < 1000; i++ {
		if _, err := s.Dialog(context.Background(), "", newID()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("want ErrUnavailable, got %v", err)
		}
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("1000 calls while down took %v: they must fail at once", d)
	}
}

// The Redis store behind the branch cache keeps the store contract, and a
// branch this node wrote is loaded without asking Redis.
func TestCachedRedisStore(t *testing.T) {
	rc := backendtest.Redis(t)
	prefix := "test:topos:" + backendtest.Suffix() + ":"
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	})
	rs, err := newRedisStore(backendtest.RedisURL(), prefix, time.Second, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	rs.start()
	s := newCachedStore(rs, time.Hour)
	defer s.Close()
	storeContract(t, s, "ctx1", time.Sleep)

	ctx := context.Background()
	d, b := &Dialog{ID: newID()}, &Branch{Key: "z9hG4bKtm" + newID() + ".0"}
	b.DialogID = d.ID
	if _, err := s.CreateInitial(ctx, "ctx2", d, b, time.Minute); err != nil {
		t.Fatal(err)
	}
	rc.Del(ctx, rs.key("ctx2", "b", b.Key)) // as if only another node could answer
	if got, err := s.Branch(ctx, "ctx2", b.Key); err != nil || got.DialogID != d.ID {
		t.Errorf("a branch written here: %+v %v, want it from memory", got, err)
	}
	if _, err := rs.Branch(ctx, "ctx2", b.Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("the Redis copy is still there: %v", err)
	}
}
