// Package config loads and validates the luasbc YAML configuration.
//
// Parameter names follow Kamailio's core parameters so an operator can carry a
// kamailio.cfg over line by line; relative paths are resolved against the
// directory of the config file.
package config

import (
	"bytes"
	"embed"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/luasbc/luasbc/core/msg"
	luascript "github.com/luasbc/luasbc/lua"
)

// Listen is one parsed `listen:` entry such as "udp:127.0.0.1:5060" or
// "tls:[2001:db8::1]:5061 advertise sbc.example.com:5061".
type Listen struct {
	Proto string // udp, tcp, tls, ws, wss
	Addr  netip.AddrPort
	Raw   string
	// AdvHost and AdvPort are what Via and Record-Route carry instead of
	// the socket address (Kamailio's "advertise"); "" / 0 when not given.
	AdvHost string
	AdvPort int
}

// Log configures zap.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// RPC configures the admin listener.
type RPC struct {
	Listen string `yaml:"listen"` // host:port for HTTP JSON-RPC and /metrics; "" disables
	Socket string `yaml:"socket"` // unix socket path; "" disables
}

// Lua configures the script engine.
type Lua struct {
	Load      string `yaml:"load"`
	Workers   int    `yaml:"workers"`
	TimeoutMS int    `yaml:"timeout_ms"`
	// Entry point names, as Kamailio's kemi.*_callback core parameters.
	RequestRoute string `yaml:"request_route_callback"`
	ReplyRoute   string `yaml:"reply_route_callback"`
	OnsendRoute  string `yaml:"onsend_route_callback"`
	// Defines readable from Lua with KSR.kx.ifdef/get_def, like #!define.
	Defines map[string]string `yaml:"defines"`
	Reload  *bool             `yaml:"reload"` // app_lua "reload" modparam
}

// Core holds the worker-pool and limits knobs.
type Core struct {
	Workers    int `yaml:"workers"`     // SIP worker goroutines; 0 = lua.workers
	QueueSize  int `yaml:"queue_size"`  // messages waiting for a worker before load shedding
	RetryAfter int `yaml:"retry_after"` // seconds in the Retry-After of a shed 503
	// tcp_connection_lifetime in seconds (Kamailio's name).
	TCPConnectionLifetime int `yaml:"tcp_connection_lifetime"`
	TCPMaxConnections     int `yaml:"tcp_max_connections"`
	MaxMessageSize        int `yaml:"max_message_size"`
	// Stream connections (Kamailio's core parameters, in seconds).
	TLSMaxConnections int  `yaml:"tls_max_connections"`  // TLS and WSS; TCP and WS count against tcp_max_connections
	TCPConnectTimeout int  `yaml:"tcp_connect_timeout"`  // connecting, TLS handshake included
	TCPSendTimeout    int  `yaml:"tcp_send_timeout"`     // one write
	TCPMsgDataTimeout int  `yaml:"tcp_msg_data_timeout"` // accept to first complete message (handshakes included)
	TCPMsgReadTimeout int  `yaml:"tcp_msg_read_timeout"` // a started message must complete within
	TCPAcceptAliases  bool `yaml:"tcp_accept_aliases"`   // honour ";alias" in the top Via (connection reuse)
	DNS               `yaml:",inline"`
	// MemoryLimitMB is the soft heap limit (Go's GOMEMLIMIT); the collector
	// works harder near it. 0 = 1024; -1 = none. GOMEMLIMIT in the
	// environment wins.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
}

// Config is the whole file.
type Config struct {
	ListenRaw       []string `yaml:"listen"`
	Alias           []string `yaml:"alias"`
	ServerSignature *bool    `yaml:"server_signature"`
	ServerHeader    string   `yaml:"server_header"`
	UserAgentHeader string   `yaml:"user_agent_header"`
	Log             Log      `yaml:"log"`
	RPC             RPC      `yaml:"rpc"`
	DBURL           string   `yaml:"db_url"`
	RedisURL        string   `yaml:"redis_url"`
	Lua             Lua      `yaml:"lua"`
	Core            Core     `yaml:"core"`
	// TLS holds the TLS profiles (Kamailio's tls.cfg sections) for tls:
	// and wss: listeners and outgoing TLS connections.
	TLS     []TLSProfile              `yaml:"tls"`
	Modules map[string]map[string]any `yaml:"modules"`
	// ModuleOrder keeps the order modules were listed in, so start-up is deterministic.
	ModuleOrder []string `yaml:"-"`

	Listen []Listen `yaml:"-"`
	Dir    string   `yaml:"-"` // directory of the config file
	// embedded is set for the built-in default config.
	embedded bool
	File     string `yaml:"-"`
}

//go:embed default.yaml
var defaults embed.FS

// Default returns the embedded default configuration (the one the README starts).
func Default() []byte {
	b, _ := defaults.ReadFile("default.yaml")
	return b
}

// EmbeddedScript names the copy of lua/default.lua built into the binary.
const EmbeddedScript = "(built-in) lua/default.lua"

// ReadScript reads a Lua script, or the built-in default for EmbeddedScript.
func ReadScript(path string) ([]byte, error) {
	if path == EmbeddedScript {
		return luascript.Default, nil
	}
	return os.ReadFile(path)
}

// Load reads and validates a config file. An empty path loads the embedded default
// with paths relative to the current directory.
func Load(path string) (*Config, error) {
	var data []byte
	dir := "."
	if path == "" {
		data = Default()
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data = b
		dir = filepath.Dir(path)
	}
	c, err := parse(data, dir, path == "")
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, err
	}
	c.File = path
	return c, nil
}

// Parse decodes YAML bytes; dir resolves relative paths.
func Parse(data []byte, dir string) (*Config, error) { return parse(data, dir, false) }

// parse decodes and validates; embedded marks the built-in default config,
// whose script falls back to the built-in copy.
func parse(data []byte, dir string, embedded bool) (*Config, error) {
	c := &Config{embedded: embedded}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		c.ModuleOrder = moduleOrder(&root)
	}
	c.Dir = dir
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

func moduleOrder(root *yaml.Node) []string {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "modules" || m.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		var out []string
		mods := m.Content[i+1]
		for j := 0; j+1 < len(mods.Content); j += 2 {
			out = append(out, mods.Content[j].Value)
		}
		return out
	}
	return nil
}

func (c *Config) finish() error {
	if len(c.ListenRaw) == 0 {
		c.ListenRaw = []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}
	}
	for _, raw := range c.ListenRaw {
		l, err := ParseListen(raw)
		if err != nil {
			return err
		}
		c.Listen = append(c.Listen, l)
	}
	if c.ServerSignature == nil {
		t := true
		c.ServerSignature = &t
	}
	if c.ServerHeader == "" {
		c.ServerHeader = "Server: luasbc"
	}
	if c.UserAgentHeader == "" {
		c.UserAgentHeader = "User-Agent: luasbc"
	}
	for _, h := range []string{c.ServerHeader, c.UserAgentHeader} {
		name, _, ok := strings.Cut(h, ":")
		if strings.ContainsAny(h, "\r\n\x00") || !ok || !msg.IsToken(name) {
			return fmt.Errorf("server_header/user_agent_header %q must be one header line \"Name: value\"", h)
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "console"
	}
	if c.Log.Format != "console" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: want console or json", c.Log.Format)
	}
	if c.Lua.Load == "" {
		c.Lua.Load = "lua/default.lua"
	}
	c.Lua.Load = c.Path(c.Lua.Load)
	if c.embedded && c.Lua.Load == "lua/default.lua" {
		if _, err := os.Stat(c.Lua.Load); err != nil {
			// Not started from a source tree: the copy in the binary.
			c.Lua.Load = EmbeddedScript
		}
	}
	if c.Lua.TimeoutMS <= 0 {
		// Wall-clock time: under full CPU load a callback that needs well
		// under a millisecond can wait tens of milliseconds for a core, so
		// the runaway guard must not be tighter than that.
		c.Lua.TimeoutMS = 1000
	}
	if c.Lua.Workers < 0 {
		return fmt.Errorf("lua.workers %d: must be >= 0", c.Lua.Workers)
	}
	if c.Lua.RequestRoute == "" {
		c.Lua.RequestRoute = "ksr_request_route"
	}
	if c.Lua.ReplyRoute == "" {
		c.Lua.ReplyRoute = "ksr_reply_route"
	}
	if c.Lua.OnsendRoute == "" {
		c.Lua.OnsendRoute = "ksr_onsend_route"
	}
	if c.Core.MemoryLimitMB == 0 {
		c.Core.MemoryLimitMB = 1024
	}
	if c.Core.QueueSize <= 0 {
		c.Core.QueueSize = 4096
	}
	if c.Core.RetryAfter <= 0 {
		c.Core.RetryAfter = 5
	}
	if c.Core.TCPConnectionLifetime <= 0 {
		c.Core.TCPConnectionLifetime = 120
	}
	if c.Core.TCPMaxConnections <= 0 {
		c.Core.TCPMaxConnections = 2048
	}
	if err := c.Core.finishStreams(); err != nil {
		return err
	}
	if err := c.Core.DNS.finish(); err != nil {
		return err
	}
	if err := c.finishTLS(); err != nil {
		return err
	}
	if c.Core.MaxMessageSize < 0 {
		return fmt.Errorf("core.max_message_size %d: must be >= 0 (0 = 65535)", c.Core.MaxMessageSize)
	}
	if c.Core.MaxMessageSize == 0 {
		c.Core.MaxMessageSize = 65535
	}
	if c.Core.MaxMessageSize > 65535 {
		return fmt.Errorf("core.max_message_size %d: at most 65535", c.Core.MaxMessageSize)
	}
	if c.Modules == nil {
		c.Modules = map[string]map[string]any{}
	}
	for name, p := range c.Modules {
		if p == nil {
			c.Modules[name] = map[string]any{}
		}
	}
	return nil
}

// Path resolves p relative to the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// ParseListen parses "proto:ip:port [advertise host[:port]]"; IPv6
// addresses are written in brackets, "udp:[::1]:5060". Without a port,
// 5060 is used (5061 for tls and wss).
func ParseListen(raw string) (Listen, error) {
	spec, adv, hasAdv := cutAdvertise(raw)
	proto, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return Listen{}, fmt.Errorf("listen %q: want proto:ip:port", raw)
	}
	proto = strings.ToLower(proto)
	defPort := uint64(5060)
	switch proto {
	case "udp", "tcp", "ws":
	case "tls", "wss":
		defPort = 5061
	case "sctp":
		return Listen{}, fmt.Errorf("listen %q: transport %s is not supported", raw, proto)
	default:
		return Listen{}, fmt.Errorf("listen %q: unknown transport %q (udp, tcp, tls, ws, wss)", raw, proto)
	}
	host, port, hasPort, err := splitHostPort(rest)
	if err != nil {
		return Listen{}, fmt.Errorf("listen %q: %w", raw, err)
	}
	if strings.HasPrefix(rest, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return Listen{}, fmt.Errorf("listen %q: %q in brackets is not an IPv6 address", raw, host)
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return Listen{}, fmt.Errorf("listen %q: %q is not an IP address", raw, host)
	}
	p := defPort
	if hasPort {
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return Listen{}, fmt.Errorf("listen %q: port %q is not a number 0-65535", raw, port)
		}
	}
	l := Listen{Proto: proto, Addr: netip.AddrPortFrom(a.Unmap(), uint16(p)), Raw: raw}
	if hasAdv {
		h, ap, hasAP, err := splitHostPort(adv)
		if err != nil || h == "" || strings.ContainsAny(h, " ;<>\"\r\n") {
			return Listen{}, fmt.Errorf("listen %q: advertise wants host[:port]", raw)
		}
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		l.AdvHost = h
		if hasAP {
			n, err := strconv.Atoi(ap)
			if err != nil || n <= 0 || n > 65535 {
				return Listen{}, fmt.Errorf("listen %q: advertised port %q is not a number 1-65535", raw, ap)
			}
			l.AdvPort = n
		}
	}
	return l, nil
}

// cutAdvertise splits "spec advertise host[:port]".
func cutAdvertise(raw string) (spec, adv string, ok bool) {
	f := strings.Fields(raw)
	if len(f) == 3 && strings.EqualFold(f[1], "advertise") {
		return f[0], f[2], true
	}
	return strings.TrimSpace(raw), "", false
}

// splitHostPort splits "ip:port", "[v6]:port", "ip" or "[v6]"; a bare
// IPv6 address must be in brackets.
func splitHostPort(s string) (host, port string, hasPort bool, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false, fmt.Errorf("missing ] after the IPv6 address")
		}
		host = s[1:end]
		switch after := s[end+1:]; {
		case after == "":
		case after[0] == ':':
			port, hasPort = after[1:], true
		default:
			return "", "", false, fmt.Errorf("want [ipv6]:port")
		}
		return host, port, hasPort, nil
	}
	if strings.Count(s, ":") > 1 {
		return "", "", false, fmt.Errorf("write IPv6 addresses in brackets, e.g. proto:[::1]:5060")
	}
	host, port, hasPort = strings.Cut(s, ":")
	return host, port, hasPort, nil
}

// String renders the listen entry canonically.
func (l Listen) String() string {
	s := l.Proto + ":" + l.Addr.String()
	if l.AdvHost != "" {
		s += " advertise " + l.AdvHost
		if l.AdvPort != 0 {
			s += ":" + strconv.Itoa(l.AdvPort)
		}
	}
	return s
}

// Atoi is a helper for module params that may come as YAML ints or strings.
func Atoi(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		return int(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(strings.ToLower(x))
		switch s {
		case "yes", "on", "true":
			return 1, nil
		case "no", "off", "false":
			return 0, nil
		}
		return strconv.Atoi(s)
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}
