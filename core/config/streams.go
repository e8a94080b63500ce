package config

import (
	"fmt"
	"time"

	"github.com/luasbc/luasbc/core/dns"
)

// DNS holds the resolver knobs (Kamailio's core DNS parameters; dns_servers
// is luasbc's: the resolver addresses instead of /etc/resolv.conf).
type DNS struct {
	DNSServers         []string `yaml:"dns_servers"`
	DNSTryNAPTR        *bool    `yaml:"dns_try_naptr"`     // default on: RFC 3263 NAPTR step
	DNSTryIPv6         *bool    `yaml:"dns_try_ipv6"`      // default on: AAAA besides A
	DNSSRVLB           *bool    `yaml:"dns_srv_lb"`        // default on: SRV weights
	DNSRetrTime        int      `yaml:"dns_retr_time"`     // seconds per query try; default 2
	DNSRetrNo          int      `yaml:"dns_retr_no"`       // extra rounds over the servers; default 1
	UseDNSCache        *bool    `yaml:"use_dns_cache"`     // default on
	DNSCacheMinTTL     int      `yaml:"dns_cache_min_ttl"` // seconds
	DNSCacheMaxTTL     int      `yaml:"dns_cache_max_ttl"` // seconds; default 3600
	DNSNegCacheTTL     int      `yaml:"dns_neg_cache_ttl"` // seconds; default 60
	UseDNSFailover     *bool    `yaml:"use_dns_failover"`  // default on: next DNS target on timeout/refusal
	UseDstBlocklist    *bool    `yaml:"use_dst_blocklist"` // default on
	DstBlocklistExpire int      `yaml:"dst_blocklist_expire"`
}

// On reads an optional switch with its default.
func On(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func (d *DNS) finish() error {
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{{"dns_retr_time", &d.DNSRetrTime, 2}, {"dns_cache_max_ttl", &d.DNSCacheMaxTTL, 3600},
		{"dns_neg_cache_ttl", &d.DNSNegCacheTTL, 60}, {"dst_blocklist_expire", &d.DstBlocklistExpire, 60}} {
		if *n.v < 0 {
			return fmt.Errorf("core.%s %d: must be >= 0", n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if d.DNSRetrNo < 0 || d.DNSCacheMinTTL < 0 {
		return fmt.Errorf("core.dns_retr_no and dns_cache_min_ttl must be >= 0")
	}
	if d.DNSRetrNo == 0 {
		d.DNSRetrNo = 1
	}
	for _, s := range d.DNSServers {
		if _, err := dns.ServerAddr(s); err != nil {
			return fmt.Errorf("core.dns_servers: %w", err)
		}
	}
	return nil
}

func (c *Core) finishStreams() error {
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{{"tls_max_connections", &c.TLSMaxConnections, 2048}, {"tcp_connect_timeout", &c.TCPConnectTimeout, 3},
		{"tcp_send_timeout", &c.TCPSendTimeout, 3}, {"tcp_msg_data_timeout", &c.TCPMsgDataTimeout, 10},
		{"tcp_msg_read_timeout", &c.TCPMsgReadTimeout, 20}} {
		if *n.v < 0 {
			return fmt.Errorf("core.%s %d: must be >= 0", n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	return nil
}

// Seconds converts a knob in seconds.
func Seconds(n int) time.Duration { return time.Duration(n) * time.Second }
