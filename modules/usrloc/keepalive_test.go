package usrloc

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestKeepaliveContactsAndTimeout(t *testing.T) {
	m := newTestModule(t, map[string]any{"nat_bflag": 6})
	d := m.domain(t, "location")
	ctx := context.Background()
	natted := contact("sip:nat@10.0.0.1", 600, 0)
	natted.CFlags, natted.Received = 1<<6, "sip:203.0.113.1:4000"
	d.Update(ctx, "alice", add(natted))
	d.Update(ctx, "alice", add(contact("sip:pub@198.51.100.1", 600, 0)))
	all, err := m.KeepaliveContacts(ctx, false)
	if err != nil || len(all) != 2 {
		t.Fatalf("all contacts: %d %v", len(all), err)
	}
	nat, _ := m.KeepaliveContacts(ctx, true)
	if len(nat) != 1 || nat[0].Contact != "sip:nat@10.0.0.1" || nat[0].Received != "sip:203.0.113.1:4000" || nat[0].AOR != "alice" {
		t.Fatalf("NATed contacts: %+v", nat)
	}
	m.KeepaliveReply(nat[0].Ruid, 1500*time.Microsecond)
	out, _ := call(t, m.Module, "ul.lookup", "location", "alice")
	if !strings.Contains(out, `"KA-Roundtrip":1500`) {
		t.Errorf("round trip not shown: %s", out)
	}
	// A contact that stops answering is removed, with the expired event.
	m.KeepaliveExpired(nat[0].Ruid)
	if cs, _ := d.Get(ctx, "alice"); addrs(cs) != "sip:pub@198.51.100.1" {
		t.Errorf("after keepalive timeout: %s", addrs(cs))
	}
	if got := m.expiredRuids(); len(got) != 1 || got[0] != nat[0].Ruid {
		t.Errorf("expired event for %v", got)
	}
}
