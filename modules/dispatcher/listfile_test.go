package dispatcher

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseListFile(t *testing.T) {
	data := `# dispatcher destination sets
# setid destination flags priority attrs

2 sip:127.0.0.1:5080;transport=tcp 0 10 class=4;prefix=448;strip=2
2	sip:127.0.0.1:5082;px=vx	0x8	5	duid=abc;pipe=p10   # trailing comment
1 sip:127.0.0.1:7070 0 0 duid=xyz;maxload=20
1 sip:127.0.0.1:7072 0 -5
1 sip:127.0.0.1:7074
1 sip:127.0.0.1:7076#comment right after the URI
x sip:127.0.0.1:1
3
3 sip:127.0.0.1:2 zz
3 sip:127.0.0.1:3 0 high
4 sip:127.0.0.1:4 0 0 a=1 extra words
-1 sip:127.0.0.1:5
`
	rows, bad, warns := parseListFile("ds.list", []byte(data))
	want := []row{
		{where: "ds.list:4", setid: 2, uri: "sip:127.0.0.1:5080;transport=tcp", priority: 10, attrs: "class=4;prefix=448;strip=2"},
		{where: "ds.list:5", setid: 2, uri: "sip:127.0.0.1:5082;px=vx", flags: 8, priority: 5, attrs: "duid=abc;pipe=p10"},
		{where: "ds.list:6", setid: 1, uri: "sip:127.0.0.1:7070", attrs: "duid=xyz;maxload=20"},
		{where: "ds.list:7", setid: 1, uri: "sip:127.0.0.1:7072", priority: -5},
		{where: "ds.list:8", setid: 1, uri: "sip:127.0.0.1:7074"},
		{where: "ds.list:9", setid: 1, uri: "sip:127.0.0.1:7076"},
		{where: "ds.list:14", setid: 4, uri: "sip:127.0.0.1:4", attrs: "a=1"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n%+v\nwant\n%+v", rows, want)
	}
	wantBad := []string{"ds.list:10: set id", "ds.list:11: want", "ds.list:12: flags", "ds.list:13: priority", "ds.list:15: set id"}
	if len(bad) != len(wantBad) {
		t.Fatalf("bad = %q, want %d entries", bad, len(wantBad))
	}
	for i, w := range wantBad {
		if !strings.HasPrefix(bad[i], w) {
			t.Errorf("bad[%d] = %q, want prefix %q", i, bad[i], w)
		}
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0], "ds.list:14: text after the attributes") {
		t.Errorf("warns = %q", warns)
	}
}

func TestParseFlags(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "8": 8, "0x10": 16, "0X1f": 31, "65535": 65535} {
		if got, err := parseFlags(s); err != nil || got != want {
			t.Errorf("parseFlags(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "0x", "x1", "70000", "1.5"} {
		if _, err := parseFlags(s); err == nil {
			t.Errorf("parseFlags(%q) accepted", s)
		}
	}
}

func TestParseAttrs(t *testing.T) {
	a, warns, err := parseAttrs(`duid=gw1;weight=25;rweight=50;maxload=3;socket=udp:127.0.0.1:5060;ping_from=sip:p@x;obproxy=sip:o@y;latency=40;cc=1;my="a;b";flag;`)
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	if a.duid != "gw1" || a.weight != 25 || a.rweight != 50 || a.maxload != 3 || a.socket != "udp:127.0.0.1:5060" ||
		a.pingFrom != "sip:p@x" || a.obproxy != "sip:o@y" || a.latency != 40 || !a.hasLat || a.cc != 1 {
		t.Errorf("attrs = %+v", a)
	}
	if a.body != `duid=gw1;weight=25;rweight=50;maxload=3;socket=udp:127.0.0.1:5060;ping_from=sip:p@x;obproxy=sip:o@y;latency=40;cc=1;my="a;b";flag` {
		t.Errorf("body = %q (trailing ';' must go)", a.body)
	}
	// Out of range weights are kept as 0 with a warning, as in Kamailio.
	a, warns, err = parseAttrs("weight=150;rweight=0")
	if err != nil || a.weight != 0 || a.rweight != 0 || len(warns) != 2 {
		t.Errorf("weight out of range: %+v %q %v", a, warns, err)
	}
	for _, bad := range []string{"=x", "weight=abc", "maxload=-1", `a="open`, `a="x"y`, "a b=1", "latency=1.5", `a=x"y`} {
		if _, _, err := parseAttrs(bad); err == nil {
			t.Errorf("parseAttrs(%q) accepted", bad)
		}
	}
	if a, _, err := parseAttrs(""); err != nil || a.body != "" {
		t.Errorf("empty attrs: %+v %v", a, err)
	}
}

func TestParseState(t *testing.T) {
	for s, want := range map[string]int{"a": 0, "A": 0, "i": 1, "ip": 9, "IP": 9, "t": 2, "tp": 10, "d": 4, "ap": 8, "ia": 0} {
		if got := parseState(s); got != want {
			t.Errorf("parseState(%q) = %d, want %d", s, got, want)
		}
	}
	if parseState("x") != -1 || parseState("ax") != -1 {
		t.Error("bad state letters accepted")
	}
	for st, want := range map[uint32]string{0: "AX", flagProbing: "AP", flagInactive | flagProbing: "IP",
		flagTrying | flagProbing: "TP", flagDisabled: "DX", flagTrying: "TX", flagNoPing: "AN", flagInactive: "IX"} {
		if got := stateLetters(st); got != want {
			t.Errorf("stateLetters(%d) = %s, want %s", st, got, want)
		}
	}
}

func TestParseReplyCodes(t *testing.T) {
	codes, err := parseReplyCodes("class=2;code=403;code=488;class=3;")
	if err != nil || !reflect.DeepEqual(codes, []int{2, 403, 488, 3}) {
		t.Fatalf("codes %v %v", codes, err)
	}
	c := config{replyCodes: codes}
	for code, ok := range map[int]bool{200: true, 202: true, 403: true, 404: false, 302: true, 488: true, 500: false, 408: false} {
		if c.pingOK(code) != ok {
			t.Errorf("pingOK(%d) = %v", code, !ok)
		}
	}
	if (&config{}).pingOK(404) || !(&config{}).pingOK(200) {
		t.Error("default: only 2xx")
	}
	for _, bad := range []string{"code=99", "class=7", "code=abc", "foo=1"} {
		if _, err := parseReplyCodes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseSockSpec(t *testing.T) {
	r, err := parseSockSpec("udp:127.0.0.1:5070")
	if err != nil || r.addr.String() != "127.0.0.1:5070" || r.proto.String() != "udp" {
		t.Fatal(r, err)
	}
	if r, err := parseSockSpec("tls:[::1]"); err != nil || r.addr.Port() != 5061 {
		t.Fatal(r, err)
	}
	for _, bad := range []string{"127.0.0.1:5060", "udp:host.example:5060", "udp:1.2.3.4:0", "xyz:1.2.3.4:1", "udp:[::1:5060"} {
		if _, err := parseSockSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
