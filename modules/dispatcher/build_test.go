package dispatcher

import (
	"context"
	"strings"
	"testing"
)

func TestBuildReportsBadEntries(t *testing.T) {
	d := testDispatcher(t, nil)
	res := d.load(t, `
1 sip:10.0.0.1:5060
1 sip:10.0.0.1:5060
1 http://10.0.0.2
1 sip:10.0.0.3 0 0 weight=abc
1 sip:host.invalid
1 sip:10.0.0.4 0 0 socket=udp:192.0.2.1:5060
1 10.0.0.5:5070
1 sip:[zz::1]
1 sip:10.0.0.6 0 0 weight=500
2 sip:10.0.0.7;transport=foo
2 sip:10.0.0.8 0 0 ping_from=nonsense
`)
	for _, want := range []string{
		"test.list:3: duplicate of test.list:2",
		"test.list:4: bad URI",
		"test.list:5: attribute weight",
		"test.list:6: cannot resolve host \"host.invalid\"",
		"test.list:9: bad URI",
		"test.list:10: weight 500 not in 1-100",
		"test.list:11: unknown transport",
		"test.list:12: attribute ping_from",
	} {
		found := false
		for _, r := range append(res.bad, res.warns...) {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Errorf("no report %q in\n%s", want, strings.Join(append(res.bad, res.warns...), "\n"))
		}
	}
	// The good entries are loaded; a URI without scheme is taken as sip:.
	// (Sockets are checked against the listeners: see the KEMI tests.)
	got := uris(d.tab.Load().set(1))
	want := "sip:10.0.0.6 sip:10.0.0.5:5070 sip:10.0.0.4 sip:10.0.0.1:5060"
	if strings.Join(got, " ") != want {
		t.Errorf("set 1: %v, want %s", got, want)
	}
	if d.tab.Load().set(2) != nil {
		t.Error("set 2 has no good entry, yet exists")
	}
}

func TestSocketCheckWithoutCore(t *testing.T) {
	// With no core (API listing) sockets cannot be checked and pass.
	d := testDispatcher(t, nil)
	res := d.load(t, "1 sip:10.0.0.1 0 0 socket=udp:127.0.0.1:5060\n")
	if len(res.bad) != 0 {
		t.Errorf("bad: %v", res.bad)
	}
}

func TestLoadModeAndBrokenLists(t *testing.T) {
	d := testDispatcher(t, map[string]any{"ds_load_mode": 1})
	var l loaded
	l.rows, l.bad, l.warns = parseListFile("x", []byte("1 sip:10.0.0.1\n1 sip:10.0.0.2 0 0 weight=x\n"))
	if _, err := d.build(context.Background(), l, buildOpts{}); err == nil || !strings.Contains(err.Error(), "x:2") {
		t.Errorf("ds_load_mode 1 with a bad entry: %v", err)
	}
	d = testDispatcher(t, nil)
	l.rows, l.bad, l.warns = parseListFile("x", []byte("1 bad:uri:::\nzz\n"))
	if _, err := d.build(context.Background(), l, buildOpts{}); err == nil || !strings.Contains(err.Error(), "no usable destination") {
		t.Errorf("only bad entries: %v", err)
	}
	// An empty list is a valid (empty) list.
	res, err := d.build(context.Background(), loaded{}, buildOpts{})
	if err != nil || res.t.count() != 0 {
		t.Errorf("empty list: %v", err)
	}
}

func TestReloadKeepsState(t *testing.T) {
	d := testDispatcher(t, map[string]any{"ds_hash_size": 2})
	d.load(t, "1 sip:10.0.0.1 0 0 duid=a\n1 sip:10.0.0.2 8\n1 sip:10.0.0.3\n")
	d.mark(t, 1, "sip:10.0.0.1", flagInactive|flagProbing)
	d.mark(t, 1, "sip:10.0.0.2", flagTrying|flagProbing)
	d.mark(t, 1, "sip:10.0.0.3", flagDisabled)
	_, a := d.tab.Load().find(1, "sip:10.0.0.1")
	a.load.Add(3)
	// .1 unchanged (attrs may change), .2 with other flags, .3 gone, .4 new.
	d.load(t, "1 sip:10.0.0.1 0 5 duid=a;weight=10\n1 sip:10.0.0.2 0\n1 sip:10.0.0.4\n")
	for uri, want := range map[string]string{"sip:10.0.0.1": "IP", "sip:10.0.0.2": "AX", "sip:10.0.0.4": "AX"} {
		if got := d.letters(t, 1, uri); got != want {
			t.Errorf("%s: %s, want %s", uri, got, want)
		}
	}
	if _, dd := d.tab.Load().find(1, "sip:10.0.0.3"); dd != nil {
		t.Error("removed destination still there")
	}
	if _, a2 := d.tab.Load().find(1, "sip:10.0.0.1"); a2.calls() != 3 || a2.priority != 5 {
		t.Errorf("reloaded destination: load %d priority %d", a2.calls(), a2.priority)
	}
}

func TestParseDestURI(t *testing.T) {
	for in, want := range map[string]string{
		"sip:10.0.0.1":                      "sip:10.0.0.1",
		"10.0.0.1:5080":                     "sip:10.0.0.1:5080",
		"sips:gw.example.com;transport=tls": "sips:gw.example.com;transport=tls",
		"sip:[2001:db8::1]:5060":            "sip:[2001:db8::1]:5060",
		"sip:user@10.0.0.1":                 "sip:user@10.0.0.1",
	} {
		got, _, err := parseDestURI(in)
		if err != nil || got != want {
			t.Errorf("parseDestURI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "tel:+123", "sip:", "sip:a b", "sip:[1.2.3.4]", "sip:x\r\ny", "<sip:x>", "tel:+123", "sip:h:99999"} {
		if _, _, err := parseDestURI(bad); err == nil {
			t.Errorf("parseDestURI(%q) accepted", bad)
		}
	}
}
