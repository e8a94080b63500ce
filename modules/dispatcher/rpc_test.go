package dispatcher_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/rpc"
)

func TestRPCListAndState(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "ds.list", "1 sip:127.0.0.1:5071 0 0 duid=gw1;weight=50\n1 sip:127.0.0.1:5072 8 5\n2 sip:127.0.0.1:5073\n")
	s := start(t, map[string]any{"list_file": file, "reload_delta": 0, "ds_hash_size": 1})
	res, err := s.rpc("dispatcher.list")
	if err != nil {
		t.Fatal(err)
	}
	j := asJSON(res)
	for _, want := range []string{`"NRSETS":2`, `"RECORDS":[{"SET":{"ID":1,"TARGETS":[{"DEST":{`,
		`"URI":"sip:127.0.0.1:5072"`, `"FLAGS":"AP"`, `"PRIORITY":5`, `"BODY":"duid=gw1;weight=50"`, `"DUID":"gw1"`,
		`"WEIGHT":50`, `"RUNTIME":{"DLGLOAD":0}`} {
		if !strings.Contains(j, want) {
			t.Errorf("dispatcher.list lacks %s:\n%s", want, j)
		}
	}
	if j := asJSON(must(s.rpc("dispatcher.list", "short"))); strings.Contains(j, "ATTRS") {
		t.Errorf("short mode shows ATTRS: %s", j)
	}
	if j := asJSON(must(s.rpc("dispatcher.list", "full"))); !strings.Contains(j, `"IPADDR":"127.0.0.1"`) || !strings.Contains(j, `"PORT":5073`) {
		t.Errorf("full mode: %s", j)
	}

	for _, tc := range []struct {
		params []any
		ok     bool
		want   map[string]string
	}{
		{[]any{"ip", 1, "sip:127.0.0.1:5071"}, true, map[string]string{"1 sip:127.0.0.1:5071": "IP"}},
		{[]any{"dx", 1, "sip:127.0.0.1:5072"}, true, map[string]string{"1 sip:127.0.0.1:5072": "DX"}},
		{[]any{"tp", 2, "all"}, true, map[string]string{"2 sip:127.0.0.1:5073": "TP"}},
		{[]any{"1", 2, "all"}, true, map[string]string{"2 sip:127.0.0.1:5073": "AX"}},
		{[]any{"q", 1, "all"}, false, nil},
		{[]any{"a", 7, "all"}, false, nil},
		{[]any{"a", 1, "sip:127.0.0.1:9"}, false, nil},
		{[]any{"a", 1}, false, nil},
	} {
		_, err := s.rpc("dispatcher.set_state", tc.params...)
		if (err == nil) != tc.ok {
			t.Errorf("set_state %v: %v", tc.params, err)
		}
		f := flagsOf(t, s.h)
		for k, v := range tc.want {
			if f[k] != v {
				t.Errorf("after set_state %v: %s is %s, want %s", tc.params, k, f[k], v)
			}
		}
	}
	if _, err := s.rpc("dispatcher.set_duid_state", "a", 1, "GW1"); err != nil {
		t.Fatal(err)
	}
	if f := flagsOf(t, s.h)["1 sip:127.0.0.1:5071"]; f != "AX" {
		t.Errorf("set_duid_state: %s", f)
	}
	if r := asJSON(must(s.rpc("dispatcher.hash", 4, "bob", "server.com"))); r != `{"hashid":3883463682,"slot":2}` {
		t.Errorf("dispatcher.hash: %s (Kamailio gives 3883463682, slot 2)", r)
	}
}

func must(v any, err *rpc.Error) any {
	if err != nil {
		panic(err.Error())
	}
	return v
}

func TestRPCReload(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "ds.list", "1 sip:127.0.0.1:5071\n")
	s := start(t, map[string]any{"list_file": file, "reload_delta": 0},
		[]string{`KSR.dispatcher.ds_select_dst(1, 4)`, `KSR.pv.get("$du")`, `KSR.dispatcher.ds_list_exists(2)`})
	if _, err := s.rpc("dispatcher.set_state", "ip", 1, "sip:127.0.0.1:5071"); err != nil {
		t.Fatal(err)
	}
	// New destinations appear; an unchanged one keeps its state; bad lines
	// are left out and reported.
	port := s.h.ServerPort()
	writeFile(t, dir, "ds.list", fmt.Sprintf(`1 sip:127.0.0.1:5071
1 sip:127.0.0.1:5072 0 0 socket=udp:127.0.0.1:%d
2 sip:127.0.0.1:5073
2 sip:127.0.0.1:5074 0 0 socket=udp:127.0.0.1:1
3 not a line
`, port))
	res, err := s.rpc("dispatcher.reload")
	if err != nil {
		t.Fatal(err)
	}
	txt := fmt.Sprint(res)
	if !strings.HasPrefix(txt, "Ok. Dispatcher successfully reloaded.") || !strings.Contains(txt, "ds.list:4: socket udp:127.0.0.1:1 is not a listening socket") ||
		!strings.Contains(txt, "ds.list:5: flags") {
		t.Errorf("reload answer: %s", txt)
	}
	f := flagsOf(t, s.h)
	if f["1 sip:127.0.0.1:5071"] != "IP" || f["1 sip:127.0.0.1:5072"] != "AX" || f["2 sip:127.0.0.1:5073"] != "AX" || len(f) != 3 {
		t.Errorf("after reload: %v", f)
	}
	s.want(s.eval(0, "INVITE", "sip:x@y"), "1", "sip:127.0.0.1:5072", "1")

	// A list that cannot be read keeps the loaded one, and says why.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	_, rerr := s.rpc("dispatcher.reload")
	if rerr == nil || rerr.Message != "Reload Failed" || !strings.Contains(asJSON(rerr.Data), "no such file") {
		t.Errorf("unreadable list: %v %s", rerr, asJSON(rerr))
	}
	// Only bad entries: a broken list, not an empty one.
	writeFile(t, dir, "ds.list", "1 bad uri:\nx\n")
	_, rerr = s.rpc("dispatcher.reload")
	if rerr == nil || !strings.Contains(asJSON(rerr.Data), "no usable destination") {
		t.Errorf("broken list: %v", rerr)
	}
	if len(flagsOf(t, s.h)) != 3 {
		t.Error("a failed reload changed the list")
	}
}

func TestRPCAddRemove(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "ds.list", "1 sip:127.0.0.1:5071\n")
	s := start(t, map[string]any{"list_file": file, "reload_delta": 0})
	if r, err := s.rpc("dispatcher.add", 2, "sip:127.0.0.1:5072", 8, 3, "duid=x"); err != nil || r != "Ok. Dispatcher destination added." {
		t.Fatalf("add: %v %v", r, err)
	}
	if _, err := s.rpc("dispatcher.add", 2, "sip:127.0.0.1:5072"); err == nil {
		t.Error("duplicate add accepted")
	}
	if _, err := s.rpc("dispatcher.add", 2, "bad uri:x"); err == nil || err.Message != "Adding dispatcher dst failed" {
		t.Errorf("bad add: %v", err)
	}
	f := flagsOf(t, s.h)
	if f["2 sip:127.0.0.1:5072"] != "AP" || f["1 sip:127.0.0.1:5071"] != "AX" {
		t.Errorf("after add: %v", f)
	}
	if _, err := s.rpc("dispatcher.remove", 1, "sip:127.0.0.1:5071"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rpc("dispatcher.remove", 1, "sip:127.0.0.1:5071"); err == nil {
		t.Error("removing a missing destination succeeded")
	}
	if f := flagsOf(t, s.h); len(f) != 1 {
		t.Errorf("after remove: %v", f)
	}
	// A reload from the file drops what was added in memory.
	if _, err := s.rpc("dispatcher.reload"); err != nil {
		t.Fatal(err)
	}
	if f := flagsOf(t, s.h); len(f) != 1 || f["1 sip:127.0.0.1:5071"] != "AX" {
		t.Errorf("after reload: %v", f)
	}
	// Everything removed: no sets.
	if _, err := s.rpc("dispatcher.remove", 1, "sip:127.0.0.1:5071"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rpc("dispatcher.list"); err == nil || err.Message != "No Destination Sets" {
		t.Errorf("empty list: %v", err)
	}
}

func TestRPCRateLimit(t *testing.T) {
	file := writeFile(t, t.TempDir(), "ds.list", "1 sip:127.0.0.1:5071\n")
	s := start(t, map[string]any{"list_file": file}) // reload_delta 5 s
	if _, err := s.rpc("dispatcher.reload"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rpc("dispatcher.reload"); err == nil || err.Message != "Ongoing reload" {
		t.Errorf("second reload within reload_delta: %v", err)
	}
	if _, err := s.rpc("dispatcher.add", 1, "sip:127.0.0.1:5072"); err == nil || err.Message != "Ongoing reload" {
		t.Errorf("add within reload_delta: %v", err)
	}
}

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		params map[string]any
		want   string
	}{
		"missing file":   {map[string]any{"list_file": dir + "/nope.list"}, "no such file"},
		"all bad":        {map[string]any{"list_file": writeFile(t, dir, "bad.list", "1 http://x\n")}, "no usable destination"},
		"bad reply code": {map[string]any{"list_file": writeFile(t, dir, "ok.list", "1 sip:127.0.0.1\n"), "ds_ping_reply_codes": "code=9"}, "ds_ping_reply_codes"},
		"bad socket":     {map[string]any{"list_file": dir + "/ok.list", "ds_default_socket": "udp:nohost:1"}, "ds_default_socket"},
		"bad mode":       {map[string]any{"list_file": dir + "/ok.list", "ds_probing_mode": 7}, "ds_probing_mode"},
		"load mode 1":    {map[string]any{"list_file": writeFile(t, dir, "mixed.list", "1 sip:127.0.0.1\n1 sip:127.0.0.1:5 0 0 weight=x\n"), "ds_load_mode": 1}, "mixed.list:2"},
	} {
		err := newErr(t, tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
