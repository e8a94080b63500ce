// Package backendtest gives tests the real PostgreSQL and Redis of the
// machine (test/services.sh starts them): URLs from LUASBC_TEST_PG and
// LUASBC_TEST_REDIS, else 127.0.0.1 defaults. A backend that is down fails the
// test with the reason: these tests never fall back to a mock.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// PGURL is the test database URL.
func PGURL() string {
	if u := os.Getenv("LUASBC_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisURL is the test Redis URL (database 9, away from anything else).
func RedisURL() string {
	if u := os.Getenv("LUASBC_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/9"
}

// Suffix is a random name part that keeps parallel tests apart.
func Suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PG connects to the test database; it fails the test when it cannot.
func PG(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, PGURL())
	if err == nil {
		err = p.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (run test/services.sh): %v", PGURL(), err)
	}
	t.Cleanup(p.Close)
	return p
}

// Schema creates a private schema for the test and returns a URL whose
// search_path points at it, so tables with Kamailio's names do not collide;
// the schema is dropped afterwards.
func Schema(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	p := PG(t)
	name := "t_" + Suffix()
	ctx := context.Background()
	if _, err := p.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE") })
	url := PGURL()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	url += sep + "search_path=" + name
	sp, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	return url, sp
}

// Redis connects to the test Redis; it fails the test when it cannot. Keys
// the test writes should start with Suffix() output.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (run test/services.sh): %v", RedisURL(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
