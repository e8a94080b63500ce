package dispatcher

import (
	"context"
	"strconv"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// testDispatcher is a dispatcher without a core (nothing is sent), with
// params set as in a config.
func testDispatcher(t testing.TB, params map[string]any) *Dispatcher {
	t.Helper()
	p, _, err := kemi.ValidateParams(kemi.LookupModule("dispatcher"), params)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := newDispatcher(&kemi.Env{Params: p, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Dispatcher)
}

// load builds list (list file format) and installs it.
func (d *Dispatcher) load(t testing.TB, list string) buildResult {
	t.Helper()
	var l loaded
	l.rows, l.bad, l.warns = parseListFile("test.list", []byte(list))
	res, err := d.build(context.Background(), l, buildOpts{prev: d.tab.Load()})
	if err != nil {
		t.Fatal(err)
	}
	d.tab.Store(res.t)
	return res
}

// uris lists the URIs of a set in selection order.
func uris(s *set) []string {
	out := make([]string, len(s.dests))
	for i, d := range s.dests {
		out[i] = d.uri
	}
	return out
}

// keys is a keySource with fixed values.
type keys struct {
	cid         string
	uri         [4][2]string // by algorithm 1..3: user, host
	auth        string
	pv          string
	invite      bool
	noURI, noPV bool
}

func (k keys) callID() string { return k.cid }
func (k keys) uriKeys(alg int) (string, string, bool, bool) {
	if k.noURI {
		return "", "", false, false
	}
	return k.uri[alg][0], k.uri[alg][1], true, true
}
func (k keys) authUser() (string, bool) { return k.auth, k.auth != "" }
func (k keys) pvText() (string, bool)   { return k.pv, !k.noPV }
func (k keys) isInvite() bool           { return k.invite }

// pick runs one selection of alg over set id and returns the first URI.
func (d *Dispatcher) pick(t testing.TB, id, alg int, k keySource) string {
	t.Helper()
	sel, err := d.choose(d.tab.Load().set(id), alg, 0, k)
	if err != nil {
		t.Fatalf("alg %d: %v", alg, err)
	}
	return sel.first.uri
}

// mark sets a destination's state directly.
func (d *Dispatcher) mark(t testing.TB, id int, uri string, st uint32) {
	t.Helper()
	s, dd := d.tab.Load().find(id, uri)
	if dd == nil {
		t.Fatalf("no %s in set %d", uri, id)
	}
	s.mu.Lock()
	setState(s, dd, int(st))
	s.mu.Unlock()
}

func itoa(n int) string { return strconv.Itoa(n) }
