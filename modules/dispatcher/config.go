package dispatcher

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/kemi"
)

// Module flags (the flags modparam).
const (
	flagHashUserOnly = 1 // hash only the user part of URIs
	flagFailover     = 2 // keep the other destinations for ds_next_dst / ds_mark_dst
)

// Probing modes (ds_probing_mode).
const (
	probeFlagged     = 0 // destinations with the probing flag; success clears it
	probeAll         = 1 // every destination
	probeInactive    = 2 // inactive destinations with the probing flag
	probeOnlyFlagged = 3 // destinations with the probing flag, kept on success
)

// DNS modes (ds_dns_mode bits).
const (
	dnsAtLoad  = 1 // resolve at load and reload
	dnsAtMatch = 2 // resolve again at each ds_is_from_list
	dnsRefresh = 4 // resolve at load and every ds_dns_interval
	dnsSRV     = 8 // SRV lookups (resolved as A/AAAA here)
)

// config is the checked module configuration.
type config struct {
	listFile, dbURL string
	cols            pgColumns
	extraAttrs      []attrParam // ds_db_extra_attrs: attribute name = column

	hashUserOnly bool
	failover     bool
	forceDst     bool
	useDefault   bool
	hashPvar     string
	setidPV      string
	attrsPV      string
	attrsNone    bool
	loadMode     int
	reloadDelta  time.Duration

	pingMethod        string
	pingFrom          string
	pingInterval      time.Duration
	probingThreshold  int
	inactiveThreshold int
	replyCodes        []int // codes (>= 100) and classes (1..6) that count as a successful keepalive
	probingMode       int
	latencyStats      bool
	retainLatency     bool
	alpha             float64
	outboundProxy     string
	defaultSock       *sockRef
	eventCallback     string

	hashSize                   int
	hashExpire, hashInitExpire time.Duration
	hashCheck                  time.Duration

	dnsMode     int
	dnsInterval time.Duration
}

func parseConfig(p kemi.Params) (config, error) {
	c := config{
		listFile: strings.TrimSpace(p.Str("list_file")), dbURL: strings.TrimSpace(p.Str("db_url")),
		cols: pgColumns{table: p.Str("table_name"), setid: p.Str("setid_col"), dest: p.Str("destination_col"),
			flags: p.Str("flags_col"), priority: p.Str("priority_col"), attrs: p.Str("attrs_col")},
		hashUserOnly: p.Int("flags")&flagHashUserOnly != 0,
		failover:     p.Int("flags")&flagFailover != 0 && p.Str("xavp_dst") != "",
		forceDst:     p.Bool("force_dst"), useDefault: p.Bool("use_default"),
		hashPvar: p.Str("hash_pvar"), setidPV: strings.TrimSpace(p.Str("setid_pvname")),
		attrsPV: strings.TrimSpace(p.Str("attrs_pvname")), attrsNone: p.Bool("ds_attrs_none"),
		loadMode:          p.Int("ds_load_mode"),
		reloadDelta:       time.Duration(p.Int("reload_delta")) * time.Second,
		pingMethod:        strings.TrimSpace(p.Str("ds_ping_method")),
		pingFrom:          strings.TrimSpace(p.Str("ds_ping_from")),
		pingInterval:      time.Duration(p.Int("ds_ping_interval")) * time.Second,
		probingThreshold:  p.Int("ds_probing_threshold"),
		inactiveThreshold: p.Int("ds_inactive_threshold"),
		probingMode:       p.Int("ds_probing_mode"),
		latencyStats:      p.Bool("ds_ping_latency_stats"),
		retainLatency:     p.Bool("ds_retain_latency_stats"),
		alpha:             0.9,
		outboundProxy:     strings.TrimSpace(p.Str("outbound_proxy")),
		eventCallback:     strings.TrimSpace(p.Str("event_callback")),
		hashSize:          p.Int("ds_hash_size"),
		hashExpire:        time.Duration(p.Int("ds_hash_expire")) * time.Second,
		hashInitExpire:    time.Duration(p.Int("ds_hash_initexpire")) * time.Second,
		hashCheck:         time.Duration(p.Int("ds_hash_check_interval")) * time.Second,
		dnsMode:           p.Int("ds_dns_mode"),
		dnsInterval:       time.Duration(p.Int("ds_dns_interval")) * time.Second,
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"ds_ping_interval", p.Int("ds_ping_interval")}, {"reload_delta", p.Int("reload_delta")},
		{"ds_hash_size", c.hashSize}, {"ds_hash_expire", p.Int("ds_hash_expire")},
		{"ds_hash_initexpire", p.Int("ds_hash_initexpire")}, {"ds_dns_interval", p.Int("ds_dns_interval")}} {
		if n.v < 0 {
			return c, fmt.Errorf("%s %d: must not be negative", n.name, n.v)
		}
	}
	if c.probingThreshold < 1 || c.inactiveThreshold < 1 {
		return c, fmt.Errorf("ds_probing_threshold and ds_inactive_threshold must be at least 1")
	}
	if c.probingMode < 0 || c.probingMode > 3 {
		return c, fmt.Errorf("ds_probing_mode %d: want 0 to 3", c.probingMode)
	}
	if c.loadMode != 0 && c.loadMode != 1 {
		return c, fmt.Errorf("ds_load_mode %d: want 0 or 1", c.loadMode)
	}
	if c.dnsMode < 0 || c.dnsMode > 15 {
		return c, fmt.Errorf("ds_dns_mode %d: want a sum of 1, 2, 4 and 8", c.dnsMode)
	}
	if c.dnsMode&dnsRefresh != 0 && c.dnsInterval <= 0 {
		c.dnsInterval = 600 * time.Second
	}
	if c.hashCheck <= 0 {
		c.hashCheck = 30 * time.Second
	}
	if a := p.Int("ds_latency_estimator_alpha"); a > 0 && a < 1000 {
		c.alpha = float64(a) / 1000
	} else {
		return c, fmt.Errorf("ds_latency_estimator_alpha %d: want 1 to 999 (thousandths)", a)
	}
	if c.pingMethod == "" || !isToken(c.pingMethod) {
		return c, fmt.Errorf("ds_ping_method %q: not a SIP method", c.pingMethod)
	}
	if err := checkSIPURI(c.pingFrom); err != nil {
		return c, fmt.Errorf("ds_ping_from: %w", err)
	}
	if c.outboundProxy != "" {
		if err := checkSIPURI(c.outboundProxy); err != nil {
			return c, fmt.Errorf("outbound_proxy: %w", err)
		}
	}
	var err error
	if c.replyCodes, err = parseReplyCodes(p.Str("ds_ping_reply_codes")); err != nil {
		return c, err
	}
	sock := strings.TrimSpace(p.Str("ds_default_sockname"))
	if sock == "" {
		sock = strings.TrimSpace(p.Str("ds_default_socket"))
	}
	if sock != "" {
		if c.defaultSock, err = parseSockSpec(sock); err != nil {
			return c, fmt.Errorf("ds_default_socket: %w", err)
		}
	}
	if x := strings.TrimSuffix(strings.TrimSpace(p.Str("ds_db_extra_attrs")), ";"); x != "" {
		ps, err := splitAttrs(x)
		if err != nil {
			return c, fmt.Errorf("ds_db_extra_attrs: %w", err)
		}
		for _, a := range ps {
			if a.value == "" {
				return c, fmt.Errorf("ds_db_extra_attrs: attribute %s has no column", a.name)
			}
		}
		c.extraAttrs = ps
	}
	for name, v := range map[string]string{"table_name": c.cols.table, "setid_col": c.cols.setid,
		"destination_col": c.cols.dest, "flags_col": c.cols.flags, "priority_col": c.cols.priority, "attrs_col": c.cols.attrs} {
		if strings.TrimSpace(v) == "" {
			return c, fmt.Errorf("%s must not be empty", name)
		}
	}
	return c, nil
}

// parseReplyCodes reads ds_ping_reply_codes, "code=202;class=3": codes
// 100..699 and classes 1..6; other entries are errors.
func parseReplyCodes(s string) ([]int, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ";")
	if s == "" {
		return nil, nil
	}
	ps, err := splitAttrs(s)
	if err != nil {
		return nil, fmt.Errorf("ds_ping_reply_codes: %w", err)
	}
	var out []int
	for _, p := range ps {
		n, err := strconv.Atoi(p.value)
		switch {
		case err != nil:
			return nil, fmt.Errorf("ds_ping_reply_codes: %s=%q is not a number", p.name, p.value)
		case strings.EqualFold(p.name, "code") && n >= 100 && n < 700,
			strings.EqualFold(p.name, "class") && n >= 1 && n < 7:
			out = append(out, n)
		default:
			return nil, fmt.Errorf("ds_ping_reply_codes: %s=%d: want code=100..699 or class=1..6", p.name, n)
		}
	}
	return out, nil
}

// pingOK reports whether a keepalive answered with code counts as success.
func (c *config) pingOK(code int) bool {
	if code >= 200 && code < 300 {
		return true
	}
	for _, v := range c.replyCodes {
		if v >= 100 && v == code || v < 10 && v == code/100 {
			return true
		}
	}
	return false
}

// checkSIPURI requires a sip: or sips: URI with a host.
func checkSIPURI(s string) error {
	u := &sip.Uri{}
	if err := sip.ParseUri(s, u); err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a SIP URI", s)
	}
	if !strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips") {
		return fmt.Errorf("%q is not a sip: or sips: URI", s)
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Errorf("%q contains control characters", s)
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return s != ""
}
