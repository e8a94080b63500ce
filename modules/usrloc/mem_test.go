package usrloc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func TestMemoryUpdateOrdersByQ(t *testing.T) {
	m := newTestModule(t, nil)
	d := m.domain(t, "location")
	ctx := context.Background()
	for _, c := range []Contact{contact("sip:a@1", 60, QUnspecified), contact("sip:a@2", 60, 100), contact("sip:a@3", 60, 900),
		contact("sip:a@4", 60, 100)} {
		if _, err := d.Update(ctx, "alice", add(c)); err != nil {
			t.Fatal(err)
		}
	}
	cs, _ := d.Get(ctx, "alice")
	// q order, insertion order among equal q, unspecified last.
	if got := addrs(cs); got != "sip:a@3,sip:a@2,sip:a@4,sip:a@1" {
		t.Errorf("order %s", got)
	}
	// A refresh keeps the contact's place and ruid.
	ruid := cs[1].Ruid
	c := contact("sip:a@2", 120, 100)
	cs, _ = d.Update(ctx, "alice", add(c))
	if addrs(cs) != "sip:a@3,sip:a@2,sip:a@4,sip:a@1" || cs[1].Ruid != ruid {
		t.Errorf("after refresh: %s (ruid %s, was %s)", addrs(cs), cs[1].Ruid, ruid)
	}
	if u, n := d.Counts(); u != 1 || n != 4 {
		t.Errorf("counts %d/%d", u, n)
	}
	if v := stats.Lookup("usrloc:location_contacts"); v != 4 {
		t.Errorf("usrloc:location_contacts = %d", v)
	}
	if v := stats.Lookup("usrloc:registered_users"); v != 1 {
		t.Errorf("usrloc:registered_users = %d", v)
	}
	// An error from the update function changes nothing.
	boom := errors.New("boom")
	if _, err := d.Update(ctx, "alice", func([]Contact) ([]Contact, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
	if cs, _ := d.Get(ctx, "alice"); len(cs) != 4 {
		t.Errorf("changed by a failed update: %s", addrs(cs))
	}
	if ok, _ := d.Remove(ctx, "alice"); !ok {
		t.Error("remove: not found")
	}
	if u, n := d.Counts(); u != 0 || n != 0 {
		t.Errorf("counts after remove %d/%d", u, n)
	}
}

func TestMemoryDescTimeOrder(t *testing.T) {
	m := newTestModule(t, map[string]any{"desc_time_order": 1})
	d := m.domain(t, "location")
	ctx := context.Background()
	a, b := contact("sip:a@1", 60, 900), contact("sip:a@2", 60, 100)
	b.LastModified++
	d.Update(ctx, "u", add(a))
	cs, _ := d.Update(ctx, "u", add(b))
	if addrs(cs) != "sip:a@2,sip:a@1" {
		t.Errorf("desc_time_order: %s", addrs(cs))
	}
}

func TestMemoryExpiry(t *testing.T) {
	m := newTestModule(t, map[string]any{"timer_interval": 1})
	d := m.domain(t, "location")
	ctx := context.Background()
	d.Update(ctx, "bob", add(contact("sip:b@1", 2, 0)))
	d.Update(ctx, "bob", add(contact("sip:b@2", 300, 0)))
	// A contact is never returned once expired, before the timer runs too.
	time.Sleep(2000 * time.Millisecond)
	if cs, _ := d.Get(ctx, "bob"); addrs(cs) != "sip:b@2" {
		t.Errorf("expired contact returned: %s", addrs(cs))
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(m.expiredRuids()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(m.expiredRuids()); got != 1 {
		t.Fatalf("%d contacts reported expired, want 1", got)
	}
	if all, _ := d.GetAll(ctx, "bob"); addrs(all) != "sip:b@2" {
		t.Errorf("expired contact still stored: %s", addrs(all))
	}
	if v := stats.Lookup("usrloc:location_expires"); v < 1 {
		t.Errorf("usrloc:location_expires = %d", v)
	}
}

func TestTableNames(t *testing.T) {
	m := newTestModule(t, nil)
	for _, bad := range []string{"", "a;drop", "a.b.c", "1x", "loc ation"} {
		if _, err := m.Domain(bad); err == nil {
			t.Errorf("table %q accepted", bad)
		}
	}
	if _, err := m.Domain("sip.location"); err != nil {
		t.Errorf("schema-qualified name refused: %v", err)
	}
}

func TestParamErrors(t *testing.T) {
	for _, p := range []map[string]any{
		{"db_mode": 1}, // no db_url
		{"db_mode": 9}, // no such mode
		{"redis": 1},   // no redis_url
		{"redis": 1, "redis_url": "redis://x", "db_mode": 1}, // exclusive
		{"hash_size": 0}, {"matching_mode": 4}, {"nat_bflag": 32}, {"timer_interval": 0},
		{"user_column": "user name"}, {"preload": "a.b.c"},
		{"db_mode": 1, "db_url": "::not a url"},
	} {
		ps, _, err := kemi.ValidateParams(kemi.LookupModule("usrloc"), p)
		if err == nil {
			_, err = newModule(&kemi.Env{Params: ps})
		}
		if err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
