package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/core/rpc"
)

func TestTyped(t *testing.T) {
	got := typed([]string{"12", "s:12", "i:7", "abc", "i:x"})
	if got[0] != int64(12) || got[1] != "12" || got[2] != int64(7) || got[3] != "abc" || got[4] != "x" {
		t.Fatalf("%#v", got)
	}
}

func TestAgainstServer(t *testing.T) {
	rs := rpc.NewServer(zap.NewNop())
	rs.Register(rpc.Method{Name: "echo.sum", Fn: func(_ context.Context, p rpc.Params) (any, error) {
		a, _ := p.Int(0)
		b, _ := p.Int(1)
		return a + b, nil
	}}, rpc.Method{Name: "fail", Fn: func(context.Context, rpc.Params) (any, error) {
		return nil, rpc.Errorf(500, "Reload Failed")
	}})
	addr, err := rs.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	url := "http://" + addr.String() + "/rpc"
	var out, errb bytes.Buffer
	if rc := run([]string{"--url", url, "rpc", "echo.sum", "2", "40"}, &out, &errb); rc != 0 || strings.TrimSpace(out.String()) != "42" {
		t.Fatalf("rc=%d out=%q err=%q", rc, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if rc := run([]string{"--url", url, "rpc", "fail"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "500 Reload Failed") {
		t.Fatalf("rc=%d err=%q", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"--url", url, "rpc", "no.such"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "Method Not Found") {
		t.Fatalf("rc=%d err=%q", rc, errb.String())
	}
	// Server down: one line, exit 1.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	errb.Reset()
	if rc := run([]string{"--url", "http://" + dead + "/rpc", "version"}, &out, &errb); rc != 1 || strings.Count(errb.String(), "\n") != 1 ||
		!strings.Contains(errb.String(), "cannot reach") {
		t.Fatalf("rc=%d err=%q", rc, errb.String())
	}
	// Bad usage: exit 2.
	if rc := run([]string{"frobnicate"}, &out, &errb); rc != 2 {
		t.Fatalf("rc=%d", rc)
	}
}

func TestDBVerbs(t *testing.T) {
	url, _ := backendtest.Schema(t)
	var out, errb bytes.Buffer
	if rc := run([]string{"--db-url", url, "db", "show"}, &out, &errb); rc != 0 || !strings.Contains(out.String(), "missing") {
		t.Fatalf("db show on an empty schema: rc %d\n%s%s", rc, out.String(), errb.String())
	}
	out.Reset()
	if rc := run([]string{"--db-url", url, "db", "create"}, &out, &errb); rc != 0 || !strings.Contains(out.String(), "address") {
		t.Fatalf("db create: rc %d\n%s%s", rc, out.String(), errb.String())
	}
	out.Reset()
	if rc := run([]string{"--db-url", url, "db", "migrate"}, &out, &errb); rc != 0 || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("db migrate: rc %d\n%s%s", rc, out.String(), errb.String())
	}
	out.Reset()
	run([]string{"--db-url", url, "db", "show"}, &out, &errb)
	if strings.Contains(out.String(), "missing") {
		t.Errorf("tables still missing after create:\n%s", out.String())
	}
	if rc := run([]string{"db", "show"}, &out, &errb); rc == 0 {
		t.Error("db show without a database succeeded")
	}
}

func TestCompletionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"completion", "bash"}, &out, &errb); rc != 0 || !strings.Contains(out.String(), "complete -F _sbcctl sbcctl") ||
		!strings.Contains(out.String(), `address) COMPREPLY=($(compgen -W "add rm show reload"`) || !strings.Contains(out.String(), " passwd ") {
		t.Fatalf("completion: rc %d\n%s", rc, out.String())
	}
	out.Reset()
	errb.Reset()
	if rc := run([]string{"frobnicate"}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "usage:") {
		t.Errorf("unknown verb: rc %d, stderr %q", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"--url", "http://127.0.0.1:1/rpc", "uptime"}, &out, &errb); rc != 1 ||
		strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 || !strings.Contains(errb.String(), "is sbc running?") {
		t.Errorf("server down: rc %d, stderr %q (want one line)", rc, errb.String())
	}
}

// The kamctl-style verbs map to these RPC calls; wrong arguments are
// usage errors (exit 2) before any call.
func TestVerbTranslation(t *testing.T) {
	t.Setenv("SIP_DOMAIN", "env.example")
	for _, c := range []struct {
		args   []string
		o      options
		method string
		params string
	}{
		{[]string{"add", "alice@example.com", "pw"}, options{}, "subscriber.add", `["alice","example.com","pw"]`},
		{[]string{"add", "alice", "pw"}, options{}, "subscriber.add", `["alice","env.example","pw"]`},
		{[]string{"add", "alice", "pw"}, options{domain: "d.example", table: "subs"}, "subscriber.add", `["alice","d.example","pw","subs"]`},
		{[]string{"subscriber", "passwd", "alice", "123"}, options{}, "subscriber.passwd", `["alice","env.example","123"]`},
		{[]string{"rm", "alice"}, options{}, "subscriber.rm", `["alice",""]`},
		{[]string{"show"}, options{}, "subscriber.show", `null`},
		{[]string{"show", "a@b"}, options{}, "subscriber.show", `["a","b"]`},
		{[]string{"address", "add", "1", "10.0.0.0/8", "5060", "gw"}, options{}, "permissions.addressAdd", `[1,"10.0.0.0/8",5060,"gw"]`},
		{[]string{"address", "rm", "2", "10.0.0.1"}, options{}, "permissions.addressRm", `[2,"10.0.0.1"]`},
		{[]string{"trusted", "add", "10.0.0.1", "any", "-"}, options{}, "permissions.trustedAdd", `["10.0.0.1","any",""]`},
		{[]string{"trusted", "reload"}, options{}, "permissions.trustedReload", `null`},
		{[]string{"ul", "show", "alice"}, options{}, "ul.lookup", `["location","alice"]`},
		{[]string{"ul", "rm", "alice", "sip:a@h"}, options{table: "loc2"}, "ul.rm_contact", `["loc2","alice","sip:a@h"]`},
		{[]string{"ul", "add", "alice", "sip:a@h", "60"}, options{}, "ul.add", `["location","alice","sip:a@h",60,"1",".",0,0,"4294967295"]`},
		{[]string{"htable", "set", "t", "k", "7"}, options{}, "htable.sets", `["t","k","7"]`},
		{[]string{"htable", "set", "t", "k", "7"}, options{asInt: true}, "htable.seti", `["t","k",7]`},
		{[]string{"htable", "rm", "t", "k"}, options{}, "htable.delete", `["t","k"]`},
		{[]string{"stats", "core", "tm:active"}, options{}, "stats.get_statistics", `["core:","tm:active"]`},
	} {
		m, ps, _, err := translate(c.args, c.o)
		got, _ := json.Marshal(ps)
		if err != nil || m != c.method || string(got) != c.params {
			t.Errorf("%v: %s %s %v, want %s %s", c.args, m, got, err, c.method, c.params)
		}
	}
	for _, bad := range [][]string{{"add", "alice"}, {"passwd"}, {"show", "a", "b"}, {"subscriber"},
		{"address", "add", "x", "10.0.0.1"}, {"address", "add", "1", "10.0.0.1", "port"}, {"address", "rm", "1"},
		{"trusted", "add", "10.0.0.1", "udp"}, {"trusted", "frob"}, {"ul"}, {"ul", "add", "a", "sip:a@h", "-5"},
		{"htable", "get", "t"}, {"htable", "frob", "t"}} {
		if _, _, _, err := translate(bad, options{}); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestHoistFlags(t *testing.T) {
	var out, errb bytes.Buffer
	// Options after the verb count; -5 and a password "--x" are arguments.
	if rc := run([]string{"htable", "set", "t", "k", "x", "--int", "--url", "http://127.0.0.1:1/rpc"}, &out, &errb); rc != 2 ||
		!strings.Contains(errb.String(), "not an integer") {
		t.Errorf("--int after the verb: rc %d, %q", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"add", "alice@x", "--x", "--url=http://127.0.0.1:1/rpc"}, &out, &errb); rc != 1 ||
		!strings.Contains(errb.String(), "cannot reach") {
		t.Errorf("password --x: rc %d, %q", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"--url", "http://127.0.0.1:1/rpc", "add", "alice@x", "--", "--json"}, &out, &errb); rc != 1 {
		t.Errorf("-- then --json as the password: rc %d, %q", rc, errb.String())
	}
}
