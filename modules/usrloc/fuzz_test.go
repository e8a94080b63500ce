package usrloc

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/luasbc/luasbc/core/rpc"
)

// FuzzRPCAdd feeds operator input to ul.add: it must refuse or store, never
// panic, and what it stores must come back from ul.lookup.
func FuzzRPCAdd(f *testing.F) {
	f.Add("alice@example.com", "sip:alice@192.0.2.1", "100", "0.5", ".", "0", "64", "13", "sip:9.9.9.9:5060", "udp:127.0.0.1:5060")
	f.Add("a", "x", "-1", "NaN", "0", "x", "1", "4294967296", "", "")
	f.Add("", "sip:a@b", "0", "1e3", "<sip:p;lr>", "3", "0", "-1", ".", ".")
	f.Fuzz(func(t *testing.T, aor, uri, exp, q, path, flags, cflags, methods, received, socket string) {
		m := &Module{s: settings{hashSize: 1, interval: 1e9}, domains: map[string]*Domain{}, started: true, dbh: &health{}}
		m.conns.init()
		var ps rpc.Params
		for _, s := range []string{"location", aor, uri, exp, q, path, flags, cflags, methods, received, socket} {
			b, _ := json.Marshal(s)
			ps = append(ps, b)
		}
		if _, err := m.rpcAdd(context.Background(), ps); err != nil {
			return
		}
		out, err := m.rpcLookup(context.Background(), ps[:2])
		if err != nil {
			t.Fatalf("added %q for %q, lookup: %v", uri, aor, err)
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecode feeds Redis record values (written by any node sharing the
// Redis) to the decoder.
func FuzzDecode(f *testing.F) {
	f.Add(`[{"aor":"a","c":"sip:a@b","ruid":"r1","exp":1,"q":-1,"cid":"x","cseq":1,"meth":4294967295,"mod":1}]`)
	f.Add(`[{"c":1}]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := decode("aor", []byte(s))
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.AOR != "aor" {
				t.Fatalf("AoR %q", c.AOR)
			}
		}
		order(cs, false)
	})
}
