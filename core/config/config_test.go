package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseDefault(t *testing.T) {
	c, err := Parse(Default(), "/etc/luasbc")
	if err != nil {
		t.Fatal(err)
	}
	var ls []string
	for _, l := range c.Listen {
		ls = append(ls, l.String())
	}
	if !reflect.DeepEqual(ls, []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}) {
		t.Errorf("listen %v", ls)
	}
	// The embedded default hides the signature from scanners.
	if *c.ServerSignature || c.ServerHeader != "Server: luasbc" || c.UserAgentHeader != "User-Agent: luasbc" {
		t.Errorf("signature %v %q %q", *c.ServerSignature, c.ServerHeader, c.UserAgentHeader)
	}
	if c.Lua.Load != "/etc/luasbc/lua/default.lua" {
		t.Errorf("lua.load %q", c.Lua.Load)
	}
	if c.Lua.TimeoutMS != 1000 || c.Lua.Workers != 0 || c.Lua.RequestRoute != "ksr_request_route" ||
		c.Lua.ReplyRoute != "ksr_reply_route" || c.Lua.OnsendRoute != "ksr_onsend_route" {
		t.Errorf("lua %+v", c.Lua)
	}
	if c.RPC.Listen != "127.0.0.1:8088" || c.Log.Level != "info" || c.Log.Format != "console" {
		t.Errorf("rpc %+v log %+v", c.RPC, c.Log)
	}
	if c.Core.QueueSize != 4096 || c.Core.RetryAfter != 5 || c.Core.MaxMessageSize != 65535 ||
		c.Core.TCPConnectionLifetime != 120 || c.Core.TCPMaxConnections != 2048 {
		t.Errorf("core %+v", c.Core)
	}
	want := []string{"sl", "maxfwd", "sanity", "siputils", "textops", "kx", "xlog", "corex", "tm", "tmx", "rr",
		"htable", "pike", "permissions", "auth", "auth_db", "usrloc", "registrar", "nathelper"}
	if !reflect.DeepEqual(c.ModuleOrder, want) {
		t.Errorf("module order %v", c.ModuleOrder)
	}
	for _, m := range want {
		if c.Modules[m] == nil {
			t.Errorf("module %s has nil params", m)
		}
	}
	if c.Modules["maxfwd"]["max_limit"] != 70 {
		t.Errorf("maxfwd params %v", c.Modules["maxfwd"])
	}
}

func TestLoadEmbeddedDefault(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	// The tests run in core/config, where lua/default.lua does not exist.
	if c.File != "" || c.Dir != "." || c.Lua.Load != EmbeddedScript {
		t.Errorf("file %q dir %q load %q", c.File, c.Dir, c.Lua.Load)
	}
}

func TestMinimalDefaults(t *testing.T) {
	c, err := Parse([]byte("{}"), "d")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 || c.Listen[0].String() != "udp:127.0.0.1:5060" || c.Listen[1].String() != "tcp:127.0.0.1:5060" {
		t.Errorf("listen %v", c.Listen)
	}
	if c.Modules == nil || len(c.Modules) != 0 || len(c.ModuleOrder) != 0 {
		t.Errorf("modules %v order %v", c.Modules, c.ModuleOrder)
	}
	if c.Lua.Load != filepath.Join("d", "lua", "default.lua") {
		t.Errorf("lua.load %q", c.Lua.Load)
	}
}

func TestParseListen(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"udp:127.0.0.1:5060", "udp:127.0.0.1:5060"},
		{"UDP:192.0.2.1:5080", "udp:192.0.2.1:5080"},
		{"tcp:0.0.0.0:5061", "tcp:0.0.0.0:5061"},
		{"udp:127.0.0.1", "udp:127.0.0.1:5060"},
		{"udp:127.0.0.1:0", "udp:127.0.0.1:0"},
		{"udp:[::1]:5060", "udp:[::1]:5060"},
		{"tcp:[2001:db8::1]:5070", "tcp:[2001:db8::1]:5070"},
		{"udp:[::1]", "udp:[::1]:5060"},
		{"udp:[::]:5060", "udp:[::]:5060"},
		{"udp:[fe80::1%lo]:5060", "udp:[fe80::1%lo]:5060"},
		{"udp:[::ffff:127.0.0.1]:5060", "udp:127.0.0.1:5060"},
		{"tls:127.0.0.1", "tls:127.0.0.1:5061"},
		{"WSS:[::1]", "wss:[::1]:5061"},
		{"ws:0.0.0.0:8080", "ws:0.0.0.0:8080"},
		{"udp:10.0.0.1:5060 advertise 192.0.2.7:5080", "udp:10.0.0.1:5060 advertise 192.0.2.7:5080"},
		{"tcp:[::1]:5060  advertise  [2001:db8::7]", "tcp:[::1]:5060 advertise [2001:db8::7]"},
	} {
		l, err := ParseListen(c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if l.String() != c.want || l.Raw != c.raw {
			t.Errorf("%s: got %s (raw %q), want %s", c.raw, l, l.Raw, c.want)
		}
	}
	for _, c := range []struct{ raw, errWant string }{
		{"127.0.0.1:5060", "unknown transport"},
		{"udp", "want proto:ip:port"},
		{"udp:", "want proto:ip:port"},
		{"foo:127.0.0.1:5060", `unknown transport "foo"`},
		{":127.0.0.1:5060", `unknown transport ""`},
		{"sctp:127.0.0.1:5060", "not supported"},
		{"udp:127.0.0.1:5060 advertise", "port"},
		{"udp:127.0.0.1:5060 advertise 1.2.3.4:0", "advertised port"},
		{"udp:127.0.0.1:5060 advertise a;b", "advertise wants"},
		{"udp:::1:5060", "brackets"},
		{"udp:::1", "brackets"},
		{"udp:2001:db8::1", "brackets"},
		{"udp:[::1", "missing ]"},
		{"udp:::1]", "brackets"},
		{"udp:[::1]5060", "want [ipv6]:port"},
		{"udp:[127.0.0.1]:5060", "not an IPv6 address"},
		{"udp:[]:5060", "not an IPv6 address"},
		{"udp:localhost:5060", "not an IP address"},
		{"udp:example.com", "not an IP address"},
		{"udp::5060", "not an IP address"},
		{"udp:127.0.0.1:", "port"},
		{"udp:127.0.0.1:65536", "port"},
		{"udp:127.0.0.1:-1", "port"},
		{"udp:127.0.0.1:50x", "port"},
		{"udp:[::1]:99999", "port"},
		{"udp:256.0.0.1:5060", "not an IP address"},
	} {
		_, err := ParseListen(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.errWant) {
			t.Errorf("%s: err %v, want one containing %q", c.raw, err, c.errWant)
		}
	}
}

func TestListenErrorsFromParse(t *testing.T) {
	_, err := Parse([]byte(`listen: ["udp:127.0.0.1:5060", "tls:127.0.0.1:5061"]`), ".")
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("err %v", err)
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "sbc.yaml")
	if err := os.WriteFile(file, []byte("lua: {load: scripts/route.lua}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != file || c.Dir != sub || c.Lua.Load != filepath.Join(sub, "scripts", "route.lua") {
		t.Errorf("file %q dir %q load %q", c.File, c.Dir, c.Lua.Load)
	}
	for p, want := range map[string]string{
		"":                "",
		"/abs/file.csv":   "/abs/file.csv",
		"data/list.txt":   filepath.Join(sub, "data", "list.txt"),
		"../up/list.txt":  filepath.Join(dir, "up", "list.txt"),
		"./here/list.txt": filepath.Join(sub, "here", "list.txt"),
	} {
		if got := c.Path(p); got != want {
			t.Errorf("Path(%q) = %q, want %q", p, got, want)
		}
	}
	c, err = Parse([]byte("lua: {load: /opt/route.lua}\n"), sub)
	if err != nil || c.Lua.Load != "/opt/route.lua" {
		t.Errorf("absolute load %q %v", c.Lua.Load, err)
	}
	// A load error names the file.
	if err := os.WriteFile(file, []byte("listen: [\"bogus\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("error does not name the file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestSignatureHeaders(t *testing.T) {
	ok := []string{
		`server_header: "Server: MyProxy"`,
		`server_header: "Server: MyProxy (1.0 (x86_64/linux))"`,
		`user_agent_header: "User-Agent: edge/2"`,
		`server_header: "X-Server:compact"`,
		`server_signature: false`,
	}
	for _, y := range ok {
		if _, err := Parse([]byte(y), "."); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
	bad := []string{
		`server_header: "Server: a\r\nX-Evil: 1"`,
		`server_header: "Server: a\nX-Evil: 1"`,
		`server_header: "Server: a\rX-Evil: 1"`,
		`server_header: "Server: a\x00"`,
		`server_header: "luasbc"`,
		`server_header: ": luasbc"`,
		`server_header: "Server Name: luasbc"`,
		`user_agent_header: "User-Agent: a\r\nX-Evil: 1"`,
		`user_agent_header: "no colon"`,
	}
	for _, y := range bad {
		if _, err := Parse([]byte(y), "."); err == nil || !strings.Contains(err.Error(), "header") {
			t.Errorf("%s: accepted (err %v)", y, err)
		}
	}
	c, err := Parse([]byte(`server_signature: false`), ".")
	if err != nil || *c.ServerSignature || c.ServerHeader != "Server: luasbc" {
		t.Errorf("server_signature false: %+v %v", c, err)
	}
}

func TestModuleOrder(t *testing.T) {
	c, err := Parse([]byte(`
modules:
  tm: {fr_timer: 5000}
  sl: {}
  pike: {sampling_time_unit: 2}
  htable:
  maxfwd: {max_limit: 10}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tm", "sl", "pike", "htable", "maxfwd"}
	if !reflect.DeepEqual(c.ModuleOrder, want) {
		t.Errorf("order %v, want %v", c.ModuleOrder, want)
	}
	if c.Modules["htable"] == nil || len(c.Modules["htable"]) != 0 {
		t.Errorf("empty module params %v", c.Modules["htable"])
	}
	if c.Modules["tm"]["fr_timer"] != 5000 {
		t.Errorf("tm params %v", c.Modules["tm"])
	}
}

func TestMaxMessageSize(t *testing.T) {
	for y, want := range map[string]int{
		"core: {max_message_size: 0}":     65535,
		"core: {max_message_size: 1500}":  1500,
		"core: {max_message_size: 65535}": 65535,
		"core: {}":                        65535,
	} {
		c, err := Parse([]byte(y), ".")
		if err != nil {
			t.Errorf("%s: %v", y, err)
			continue
		}
		if c.Core.MaxMessageSize != want {
			t.Errorf("%s: %d, want %d", y, c.Core.MaxMessageSize, want)
		}
	}
	for _, y := range []string{"core: {max_message_size: 65536}", "core: {max_message_size: 1000000}", "core: {max_message_size: -1}"} {
		if _, err := Parse([]byte(y), "."); err == nil || !strings.Contains(err.Error(), "max_message_size") {
			t.Errorf("%s: err %v", y, err)
		}
	}
}

func TestInvalidDocuments(t *testing.T) {
	for _, c := range []struct{ y, errWant string }{
		{"listne: []", "listne"},                    // unknown key
		{"lua: {lod: x.lua}", "lod"},                // unknown nested key
		{"listen: udp:127.0.0.1:5060", "yaml"},      // not a list
		{"lua: {workers: -1}", "lua.workers"},       // negative workers
		{"log: {format: xml}", "log.format"},        // unknown format
		{"modules: [sl, tm]", "yaml"},               // modules must be a map
		{"core: {max_message_size: big}", "yaml"},   // not a number
		{"\tlisten: []", "yaml"},                    // tab indentation
		{"listen: [\"udp:127.0.0.1:5060\"", "yaml"}, // unterminated
	} {
		if _, err := Parse([]byte(c.y), "."); err == nil || !strings.Contains(err.Error(), c.errWant) {
			t.Errorf("%q: err %v, want one containing %q", c.y, err, c.errWant)
		}
	}
}

func TestAtoi(t *testing.T) {
	for v, want := range map[any]int{
		3: 3, int64(4): 4, float64(5): 5, true: 1, false: 0,
		"yes": 1, "On": 1, "TRUE": 1, "no": 0, "off": 0, "false": 0, " 42 ": 42,
	} {
		if got, err := Atoi(v); err != nil || got != want {
			t.Errorf("Atoi(%#v) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []any{"x", nil, []int{1}, "1.5"} {
		if _, err := Atoi(v); err == nil {
			t.Errorf("Atoi(%#v) accepted", v)
		}
	}
}

// The built-in default config runs from any directory: outside a source tree
// its script is the copy built into the binary.
func TestEmbeddedDefaultScript(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Lua.Load != EmbeddedScript {
		t.Fatalf("script %q, want the built-in copy", c.Lua.Load)
	}
	src, err := ReadScript(c.Lua.Load)
	if err != nil || !strings.Contains(string(src), "function ksr_request_route()") {
		t.Fatalf("built-in script: %v, %d bytes", err, len(src))
	}
	// A config file naming lua/default.lua means that file, never the copy.
	if _, err := Parse([]byte("lua: {load: lua/default.lua}\n"), "."); err != nil {
		t.Fatal(err)
	}
}
