package core

import (
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/dns"
	"github.com/luasbc/luasbc/core/transport"
)

// newDNS builds the resolver from the core DNS knobs. The servers were
// checked when the config was loaded, so New cannot fail here.
func newDNS(cfg *config.Config, log *zap.Logger) *dns.Resolver {
	k := &cfg.Core.DNS
	dc := dns.Config{
		Servers:    k.DNSServers,
		Timeout:    config.Seconds(k.DNSRetrTime),
		Retries:    k.DNSRetrNo,
		TryNAPTR:   config.On(k.DNSTryNAPTR, true),
		TryIPv6:    config.On(k.DNSTryIPv6, true),
		SRVWeights: config.On(k.DNSSRVLB, true),
		NoCache:    !config.On(k.UseDNSCache, true),
		MinTTL:     config.Seconds(k.DNSCacheMinTTL),
		MaxTTL:     config.Seconds(k.DNSCacheMaxTTL),
		NegTTL:     config.Seconds(k.DNSNegCacheTTL),
	}
	if config.On(k.UseDstBlocklist, true) {
		dc.BlockExpire = config.Seconds(k.DstBlocklistExpire)
	}
	r, err := dns.New(dc, log.Named("dns"))
	if err != nil {
		log.Error("dns resolver", zap.Error(err))
		dc.Servers = nil
		r, _ = dns.New(dc, log.Named("dns"))
	}
	return r
}

// tlsProfiles converts the config's TLS profiles for the transport.
func tlsProfiles(ps []config.TLSProfile) []transport.TLSProfile {
	out := make([]transport.TLSProfile, 0, len(ps))
	for _, p := range ps {
		out = append(out, transport.TLSProfile{Server: p.Server, Addr: p.Addr, ServerName: p.ServerName,
			Certificate: p.Certificate, PrivateKey: p.PrivateKey, CAList: p.CAList,
			MinVersion: p.MinVersion, MaxVersion: p.MaxVersion,
			Verify: p.VerifyCertificate, Require: p.RequireCertificate})
	}
	return out
}

// addAdvertised makes an advertised listen address count as myself.
func (c *Core) addAdvertised(host string, port int) {
	h, _ := splitAlias(host)
	ports := c.aliases[h]
	if ports == nil {
		ports = map[int]bool{}
		c.aliases[h] = ports
	}
	if port != 0 {
		ports[port] = true
	} else {
		ports[5060] = true
	}
}
