package htable

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

func memTableFor(t *testing.T, def string) *Table {
	t.Helper()
	d, err := ParseDef(def)
	if err != nil {
		t.Fatal(err)
	}
	return newTable(d, 1000, zap.NewNop(), 200*time.Millisecond)
}

func TestConcurrentIncrementsAreAtomic(t *testing.T) {
	tb := memTableFor(t, "c=>size=2;initval=0")
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				tb.Add(ctx, "k", 1)
				tb.Add(ctx, fmt.Sprintf("k%d", i%7), -1)
			}
		}()
	}
	wg.Wait()
	if v, _ := tb.Get(ctx, "k"); v.I != 4000 {
		t.Fatalf("got %d, want 4000", v.I)
	}
	if n := tb.mem.n.Load(); n != 8 {
		t.Fatalf("item count %d, want 8", n)
	}
}

func TestMaxItemsHoldsUnderConcurrency(t *testing.T) {
	tb := memTableFor(t, "c=>size=6;max_items=100")
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_ = tb.Set(ctx, fmt.Sprintf("%d-%d", g, i), Int(1), 0)
			}
		}()
	}
	wg.Wait()
	n := 0
	tb.Walk(ctx, func(Item) bool { n++; return true })
	if n != 100 || tb.mem.n.Load() != 100 {
		t.Fatalf("%d items (count %d), want exactly 100", n, tb.mem.n.Load())
	}
	if tb.refused.Value() < 1500 {
		t.Fatalf("refused %d", tb.refused.Value())
	}
	// Deleting makes room again.
	tb.Reset(ctx)
	if err := tb.Set(ctx, "x", Int(1), 0); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredItemsAreInvisibleAndCollected(t *testing.T) {
	tb := memTableFor(t, "e=>size=2;autoexpire=1")
	ctx := context.Background()
	_ = tb.Set(ctx, "a", Str("x"), 0)
	// Expire it by hand rather than waiting.
	tb.mem.touch("a", func(e *entry) { e.expire = nowNano() - 1 })
	if _, ok := tb.Get(ctx, "a"); ok {
		t.Fatal("an expired item was returned")
	}
	if tb.Has(ctx, false, func(string) bool { return true }) {
		t.Fatal("an expired item matched")
	}
	// Setting it again makes a fresh item, with a fresh expire.
	if err := tb.Set(ctx, "a", Str("y"), 0); err != nil {
		t.Fatal(err)
	}
	if ex := tb.ExpireIn(ctx, "a"); ex != 1 {
		t.Fatalf("expire %d", ex)
	}
	tb.mem.touch("a", func(e *entry) { e.expire = nowNano() - 1 })
	items, _ := tb.mem.expired(nowNano())
	if len(items) != 1 || !tb.mem.removeExpired("a", nowNano()) || tb.mem.n.Load() != 0 {
		t.Fatalf("collect: %v, count %d", items, tb.mem.n.Load())
	}
}

func TestUserLockSerialisesOwnersAndExpiresAbandonedLocks(t *testing.T) {
	l := newUserLock()
	ctx := context.Background()
	a, b := new(int), new(int)
	if !l.lock(ctx, a, time.Second) || !l.lock(ctx, a, time.Second) {
		t.Fatal("re-entrant lock failed")
	}
	// b waits while a holds it (twice), and gets it when a fully releases.
	got := make(chan time.Time, 1)
	go func() {
		l.lock(ctx, b, time.Second)
		got <- time.Now()
	}()
	time.Sleep(50 * time.Millisecond)
	l.unlock(a)
	select {
	case <-got:
		t.Fatal("b got the lock while a still held one level")
	case <-time.After(50 * time.Millisecond):
	}
	released := time.Now()
	l.unlock(a)
	if at := <-got; at.Before(released) {
		t.Fatal("b got the lock before a released it")
	}
	if l.unlock(a) {
		t.Fatal("a released a lock it does not hold")
	}
	// b never unlocks: after the lease, a takes it over.
	start := time.Now()
	if !l.lock(ctx, a, 100*time.Millisecond) {
		t.Fatal("abandoned lock not taken over")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Fatalf("took over after %v", d)
	}
	// A waiter whose context ends gives up.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if l.lock(cctx, b, time.Minute) {
		t.Fatal("lock taken from a live owner")
	}
}

func TestParseCount(t *testing.T) {
	items := []Item{{Name: "u::a", Val: Str("x")}, {Name: "u::b", Val: Int(3)}, {Name: "v::a", Val: Str("y")}}
	for expr, want := range map[string][2]int{"**": {3, 3}, "%~u::": {2, 0}, "~%::a": {2, 0}, "~~^U": {2, 0},
		"==v::a": {1, 0}, "^v": {1, 0}, "eq3": {-1, 1}, "~~^[xy]$": {0, 2}, "==x": {0, 1}} {
		for i, byValue := range []bool{false, true} {
			c, err := parseCount(expr, byValue)
			if want[i] < 0 {
				if err == nil {
					t.Errorf("%s: want an error", expr)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", expr, err)
				continue
			}
			n := 0
			for _, it := range items {
				if c.matches(it, byValue) {
					n++
				}
			}
			if byValue && expr[0] != '*' && expr[:2] != "eq" && expr[:2] != "~~" && expr[:2] != "==" {
				continue // name patterns on values: not asserted
			}
			if n != want[i] {
				t.Errorf("%s byValue=%v: %d, want %d", expr, byValue, n, want[i])
			}
		}
	}
}
