package usrloc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/rpc"
)

// call runs an RPC method and returns its JSON text, as a client gets it.
func call(t *testing.T, m *Module, method string, params ...any) (string, *rpc.Error) {
	t.Helper()
	var ps rpc.Params
	for _, p := range params {
		b, _ := json.Marshal(p)
		ps = append(ps, b)
	}
	for _, meth := range m.RPC() {
		if meth.Name != method {
			continue
		}
		res, err := meth.Fn(context.Background(), ps)
		if err != nil {
			re, ok := err.(*rpc.Error)
			if !ok {
				t.Fatalf("%s: %v is not an rpc.Error", method, err)
			}
			return "", re
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		// json.Marshal escapes < and > as the RPC server's does; read them back.
		return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(string(b)), nil
	}
	t.Fatalf("no method %s", method)
	return "", nil
}

func TestRPCAddLookupRemove(t *testing.T) {
	m := newTestModule(t, nil)
	if out, err := call(t, m.Module, "ul.add", "location", "alice@example.com", "sip:alice@192.0.2.1", 100, 0.5, ".", 0, 64, 13); err != nil || out != "{}" {
		t.Fatalf("ul.add: %s %v", out, err)
	}
	if _, err := call(t, m.Module, "ul.add", "location", "alice", "sip:alice@192.0.2.2", 0, "1", "<sip:p1;lr>", 3, 0, 5,
		"sip:9.9.9.9:5060", "udp:127.0.0.1:5060"); err != nil {
		t.Fatal(err)
	}
	out, err := call(t, m.Module, "ul.lookup", "location", "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Kamailio's shape and key order; the permanent contact (q 1) first.
	for _, want := range []string{
		`{"AoR":"alice","Contacts":[{"Contact":{"Address":"sip:alice@192.0.2.2","Expires":"permanent","Q":1,`,
		`"Received":"sip:9.9.9.9:5060","Path":"<sip:p1;lr>","State":"CS_NEW","Flags":3,"CFlags":0,"Socket":"udp:127.0.0.1:5060","Methods":5,"Ruid":"ulcx-`,
		`{"Contact":{"Address":"sip:alice@192.0.2.1","Expires":100,"Q":0.5,`,
		`"Received":"[not set]","Path":"[not set]","State":"CS_NEW","Flags":0,"CFlags":64,"Socket":"[not set]","Methods":13,`,
		`"Instance":"[not set]","Reg-Id":0,"Server-Id":0,"Tcpconn-Id":-1,"Keepalive":0,`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ul.lookup lacks %s in\n%s", want, out)
		}
	}
	if _, err := call(t, m.Module, "ul.rm_contact", "location", "alice", "sip:nope"); err == nil || err.Code != 404 || err.Message != "Contact not found" {
		t.Errorf("rm_contact unknown contact: %v", err)
	}
	if _, err := call(t, m.Module, "ul.rm_contact", "location", "nobody", "sip:nope"); err == nil || err.Code != 404 || err.Message != "AOR not found" {
		t.Errorf("rm_contact unknown AoR: %v", err)
	}
	if _, err := call(t, m.Module, "ul.rm_contact", "location", "alice", "sip:alice@192.0.2.1"); err != nil {
		t.Errorf("rm_contact: %v", err)
	}
	out, _ = call(t, m.Module, "ul.dump")
	if !strings.HasPrefix(out, `{"Domains":[{"Domain":{"Domain":"location","Size":1024,"AoRs":[{"Info":{"AoR":"alice","HashID":`) ||
		!strings.HasSuffix(out, `"Stats":{"Records":1,"Max-Slots":1}}}]}`) || strings.Count(out, `"Address"`) != 1 {
		t.Errorf("ul.dump: %s", out)
	}
	if out, _ := call(t, m.Module, "ul.dump", "brief"); out != `{"Domains":[{"Domain":{"Domain":"location","Size":1024,"AoRs":[{"AoR":"alice"}],"Stats":{"Records":1,"Max-Slots":1}}}]}` {
		t.Errorf("ul.dump brief: %s", out)
	}
	if _, err := call(t, m.Module, "ul.rm", "location", "alice"); err != nil {
		t.Error(err)
	}
	if _, err := call(t, m.Module, "ul.lookup", "location", "alice"); err == nil || err.Code != 500 || err.Message != "AOR not found in location table" {
		t.Errorf("lookup after rm: %v", err)
	}
	if _, err := call(t, m.Module, "ul.rm", "location", "alice"); err != nil {
		t.Errorf("rm of a missing AoR: %v", err)
	}
	if out, err := call(t, m.Module, "ul.flush"); err != nil || out != "{}" {
		t.Errorf("ul.flush: %s %v", out, err)
	}
	if _, err := call(t, m.Module, "ul.db_users", "location"); err == nil || err.Message != "Command is not supported in db_mode=0" {
		t.Errorf("ul.db_users in db_mode 0: %v", err)
	}
	for _, bad := range [][]any{{"location", "a", "sip:x"}, {"location", "a", "sip:x", "x", 1, ".", 0, 0, 0},
		{"location", "a", "sip:x", 10, 2, ".", 0, 0, 0}, {"bad name", "a", "sip:x", 10, 1, ".", 0, 0, 0}} {
		if _, err := call(t, m.Module, "ul.add", bad...); err == nil || err.Code != 500 {
			t.Errorf("ul.add %v accepted: %v", bad, err)
		}
	}
}

func TestRPCDBCounts(t *testing.T) {
	url := pgSchema(t)
	m := newTestModule(t, map[string]any{"db_mode": 1, "db_url": url})
	call(t, m.Module, "ul.add", "location", "a", "sip:a@1", 100, 1, ".", 0, 0, 0)
	call(t, m.Module, "ul.add", "location", "a", "sip:a@2", 100, 1, ".", 0, 0, 0)
	call(t, m.Module, "ul.add", "location", "b", "sip:b@1", 0, 1, ".", 0, 0, 0)
	for method, want := range map[string]string{"ul.db_users": "2", "ul.db_contacts": "3", "ul.db_expired_contacts": "0"} {
		if out, err := call(t, m.Module, method, "location"); err != nil || out != want {
			t.Errorf("%s: %s %v, want %s", method, out, err, want)
		}
	}
}
