package usrloc

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi"
)

// testModule is a started usrloc with its logs.
type testModule struct {
	*Module
	logs *observer.ObservedLogs

	mu      sync.Mutex
	expired []Contact
}

// newTestModule starts usrloc with the given parameters, recording the
// contacts its timer takes out.
func newTestModule(t *testing.T, given map[string]any) *testModule {
	t.Helper()
	ps, _, err := kemi.ValidateParams(kemi.LookupModule("usrloc"), given)
	if err != nil {
		t.Fatal(err)
	}
	obs, logs := observer.New(zap.DebugLevel)
	inst, err := newModule(&kemi.Env{Params: ps, Log: zap.New(obs)})
	if err != nil {
		t.Fatal(err)
	}
	tm := &testModule{Module: inst.(*Module), logs: logs}
	tm.OnExpired(func(_ *Domain, c Contact) {
		tm.mu.Lock()
		tm.expired = append(tm.expired, c)
		tm.mu.Unlock()
	})
	if err := tm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Stop)
	return tm
}

func (tm *testModule) expiredRuids() []string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var out []string
	for _, c := range tm.expired {
		out = append(out, c.Ruid)
	}
	return out
}

// logCount counts log entries whose message contains s.
func (tm *testModule) logCount(s string) int {
	n := 0
	for _, e := range tm.logs.All() {
		if strings.Contains(e.Message, s) {
			n++
		}
	}
	return n
}

func (tm *testModule) domain(t *testing.T, name string) *Domain {
	t.Helper()
	d, err := tm.Domain(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// add is an UpdateFunc adding (or replacing, by URI) a contact.
func add(c Contact) UpdateFunc {
	return func(cur []Contact) ([]Contact, error) {
		for i := range cur {
			if cur[i].Addr == c.Addr {
				c.Ruid, c.seq = cur[i].Ruid, cur[i].seq
				cur[i] = c
				return cur, nil
			}
		}
		return append(cur, c), nil
	}
}

// contact is a typical registration of uri for aor, expiring in secs.
func contact(uri string, secs int64, q int) Contact {
	now := time.Now().Unix()
	return Contact{Addr: uri, Expires: now + secs, Q: q, CallID: "cid-" + uri, CSeq: 1, UserAgent: "ua/1",
		Socket: "udp:127.0.0.1:5060", Methods: MethodsAll, LastModified: now}
}

func addrs(cs []Contact) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Addr)
	}
	return strings.Join(out, ",")
}

// pgSchema creates a private schema with Kamailio's location table.
func pgSchema(t *testing.T) string {
	t.Helper()
	u, pool := backendtest.Schema(t)
	if _, err := pool.Exec(context.Background(), SchemaSQL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.CloseAll)
	return u
}
