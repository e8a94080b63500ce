package backend_test

import (
	"context"
	"testing"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/backend/backendtest"
)

func TestSharedConnections(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(backend.CloseAll)
	p1, err := backend.Postgres(ctx, backendtest.PGURL())
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := backend.Postgres(ctx, backendtest.PGURL())
	if p1 != p2 {
		t.Error("two pools for one URL")
	}
	var one int
	if err := p1.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %v %d", err, one)
	}
	r, err := backend.Redis(ctx, backendtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	key := "luasbc-test-" + backendtest.Suffix()
	if err := r.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get(ctx, key).Result(); v != "v" {
		t.Errorf("GET %q", v)
	}
	r.Del(ctx, key)
}

func TestBadURLsFailWithTheReason(t *testing.T) {
	ctx := context.Background()
	if _, err := backend.Postgres(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"); err == nil {
		t.Error("unreachable PostgreSQL accepted")
	}
	if _, err := backend.Redis(ctx, "redis://127.0.0.1:1/0"); err == nil {
		t.Error("unreachable Redis accepted")
	}
	if _, err := backend.Redis(ctx, "http://x"); err == nil {
		t.Error("bad Redis URL accepted")
	}
}
