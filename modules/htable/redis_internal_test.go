package htable

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
)

// redisTable makes a redis=1 table on a link to url with the given timeout.
func redisTable(t *testing.T, url string, timeout time.Duration) *Table {
	t.Helper()
	tb := memTableFor(t, "r=>size=4;autoexpire=60;redis=1")
	l, err := newLink(url, timeout, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	tb.red = &redisStore{link: l, prefix: "test:internal:r:", local: tb.mem, max: 1000}
	l.tables = append(l.tables, tb.red)
	l.start()
	t.Cleanup(l.close)
	return tb
}

// timed runs op and fails if it takes longer than limit.
func timed(t *testing.T, what string, limit time.Duration, op func()) {
	t.Helper()
	start := time.Now()
	op()
	if d := time.Since(start); d > limit {
		t.Errorf("%s took %v (limit %v)", what, d, limit)
	}
}

func TestRedisDownOperationsAreFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	for name, url := range map[string]string{"refused": "redis://127.0.0.1:1/0", "hanging": "redis://" + ln.Addr().String() + "/0"} {
		t.Run(name, func(t *testing.T) {
			tb := redisTable(t, url, 50*time.Millisecond)
			ctx := context.Background()
			tb.red.link.up.Store(true) // as if Redis had been up: the first call pays the timeout
			for i := 0; i < 3; i++ {
				timed(t, "sht_seti", 300*time.Millisecond, func() {
					if err := tb.Set(ctx, "10.0.0.1", Int(1), 0); err != nil {
						t.Fatal(err)
					}
				})
				timed(t, "lookup", 300*time.Millisecond, func() {
					if v, ok := tb.Get(ctx, "10.0.0.1"); !ok || v.I != 1 {
						t.Fatalf("local copy: %v %v", v, ok)
					}
				})
			}
			if tb.red.link.isUp() {
				t.Fatal("link still up")
			}
			tb.red.link.mu.Lock()
			_, pending := tb.red.pending["10.0.0.1"]
			tb.red.link.mu.Unlock()
			if !pending {
				t.Fatal("the write made while down is not remembered for the resync")
			}
		})
	}
}
