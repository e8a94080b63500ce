// Package dns turns SIP next hops into transport addresses the way RFC 3263
// asks: NAPTR picks the transport, SRV the servers (by priority, then
// weight), A/AAAA their addresses. Answers are cached for their TTL, and
// destinations that failed are kept on a blocklist for a while so the next
// lookup puts them last (Kamailio's DNS cache, use_dns_failover and
// dst_blocklist).
//
// Queries go to the configured servers (or those of /etc/resolv.conf) with
// github.com/miekg/dns; names in /etc/hosts answer A/AAAA without a query.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
)

// Config tunes the resolver; zero values take the defaults in New.
type Config struct {
	// Servers are "ip" or "ip:port" (IPv6 in brackets with a port); empty
	// means the nameservers of ResolvConf.
	Servers    []string
	ResolvConf string // default /etc/resolv.conf
	HostsFile  string // default /etc/hosts; "-" disables
	Timeout    time.Duration
	Retries    int  // extra rounds over the servers after the first
	TryNAPTR   bool // RFC 3263 §4.1 NAPTR step for URIs without transport and port
	TryIPv6    bool // AAAA lookups besides A
	SRVWeights bool // order equal-priority SRV records by weight (RFC 2782); else as received
	NoCache    bool
	MinTTL     time.Duration
	MaxTTL     time.Duration
	NegTTL     time.Duration // how long "no such name/record" is remembered
	CacheSize  int           // entries; 0 = 10000
	// BlockExpire is how long a failed destination stays on the blocklist;
	// 0 disables the blocklist.
	BlockExpire time.Duration
}

// Target is one transport address to try.
type Target struct {
	Proto msg.Proto
	Addr  netip.AddrPort
	// Host is the name the address was found for (the URI host, or an SRV
	// target): TLS checks the server certificate against it.
	Host string
}

// Query is one next hop to resolve.
type Query struct {
	Host   string    // name or IP literal (brackets allowed)
	Port   int       // 0 when the URI has none
	Proto  msg.Proto // ProtoNone when the URI names no transport
	Secure bool      // sips: URI
	// Supported filters the transports NAPTR/SRV may choose (the sockets we
	// have); nil accepts all.
	Supported func(msg.Proto) bool
}

// Resolver is safe for concurrent use.
type Resolver struct {
	cfg     Config
	log     *zap.Logger
	servers []string
	hosts   *hostsFile
	cache   *cache
	block   *Blocklist
	client  *mdns.Client
	tcp     *mdns.Client

	statFail, statQuery *stats.Counter
}

// ErrNotFound means the name has no usable address.
var ErrNotFound = errors.New("no address found")

// New builds a resolver; it fails when no nameserver is configured or found.
func New(cfg Config, log *zap.Logger) (*Resolver, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.HostsFile == "" {
		cfg.HostsFile = "/etc/hosts"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.NegTTL <= 0 {
		cfg.NegTTL = 60 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	r := &Resolver{cfg: cfg, log: log,
		client:    &mdns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: 4096},
		tcp:       &mdns.Client{Net: "tcp", Timeout: cfg.Timeout},
		cache:     newCache(cfg.CacheSize),
		block:     NewBlocklist(cfg.BlockExpire),
		statFail:  stats.New("dns", "failed_dns_request", "DNS queries that got no answer"),
		statQuery: stats.New("dns", "dns_requests", "DNS queries sent"),
	}
	for _, s := range cfg.Servers {
		a, err := ServerAddr(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, a)
	}
	if len(r.servers) == 0 {
		cc, err := mdns.ClientConfigFromFile(cfg.ResolvConf)
		if err == nil {
			for _, s := range cc.Servers {
				r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
			}
		}
		if len(r.servers) == 0 {
			// Without any nameserver only IP literals and /etc/hosts work;
			// that is a usable set-up for a proxy that routes by address.
			log.Info("no DNS servers configured or found; only addresses and /etc/hosts resolve",
				zap.String("resolv_conf", cfg.ResolvConf))
		}
	}
	if cfg.HostsFile != "-" {
		r.hosts = loadHosts(cfg.HostsFile)
	}
	return r, nil
}

// ServerAddr checks and completes a dns_servers entry ("ip" or "ip:port").
func ServerAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("dns server %q: want ip or ip:port", s)
	}
	return ap.String(), nil
}

// Blocklist is the list of failed destinations.
func (r *Resolver) Blocklist() *Blocklist { return r.block }

// Servers are the nameservers queried.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// FlushCache drops every cached answer.
func (r *Resolver) FlushCache() { r.cache.flush() }

// CacheLen is the number of cached answers.
func (r *Resolver) CacheLen() int { return r.cache.len() }

// Resolve lists the targets for q in the order to try them, blocklisted
// ones last.
func (r *Resolver) Resolve(ctx context.Context, q Query) ([]Target, error) {
	host := strings.TrimSuffix(strings.Trim(q.Host, "[]"), ".")
	if host == "" {
		return nil, errors.New("empty host")
	}
	supported := q.Supported
	if supported == nil {
		supported = func(msg.Proto) bool { return true }
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// RFC 3263 §4.1/§4.2: a numeric host uses the given or default
		// transport and port, no DNS.
		p := q.Proto
		if p == msg.ProtoNone {
			p = defaultProto(q.Secure)
		}
		return []Target{{Proto: p, Addr: netip.AddrPortFrom(ip.Unmap(), portOr(q.Port, p)), Host: host}}, nil
	}
	if ips := r.hosts.lookup(host, r.cfg.TryIPv6); len(ips) > 0 {
		// A name of the hosts file is local configuration: no NAPTR/SRV.
		p := q.Proto
		if p == msg.ProtoNone {
			p = defaultProto(q.Secure)
		}
		out := make([]Target, 0, len(ips))
		for _, ip := range ips {
			out = append(out, Target{Proto: p, Addr: netip.AddrPortFrom(ip, portOr(q.Port, p)), Host: host})
		}
		return r.block.Order(out), nil
	}
	var out []Target
	var err error
	switch {
	case q.Port != 0:
		// An explicit port: no SRV (§4.2), A/AAAA only.
		p := q.Proto
		if p == msg.ProtoNone {
			p = defaultProto(q.Secure)
		}
		out, err = r.addrTargets(ctx, host, uint16(q.Port), p)
	case q.Proto != msg.ProtoNone:
		out, err = r.srvOrAddr(ctx, host, q.Proto, q.Secure)
	default:
		out, err = r.anyTransport(ctx, host, q.Secure, supported)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", host, ErrNotFound)
	}
	return r.block.Order(out), nil
}

// anyTransport is §4.1 without a transport: NAPTR, else SRV per transport,
// else A/AAAA over UDP (TLS for sips).
func (r *Resolver) anyTransport(ctx context.Context, host string, secure bool, supported func(msg.Proto) bool) ([]Target, error) {
	if r.cfg.TryNAPTR {
		recs, err := r.lookup(ctx, host, mdns.TypeNAPTR)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		// The first record (by order, preference) whose SRV name has
		// servers decides the transport; failover is among its servers.
		for _, n := range SortNAPTR(recs, secure) {
			if !supported(n.Proto) {
				continue
			}
			srv, err := r.srvTargets(ctx, n.Replacement, n.Proto)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if len(srv) > 0 {
				return srv, nil
			}
		}
	}
	protos := []msg.Proto{msg.UDP, msg.TCP, msg.TLS}
	if secure {
		protos = []msg.Proto{msg.TLS}
	}
	for _, p := range protos {
		if !supported(p) {
			continue
		}
		out, err := r.srvTargets(ctx, srvName(p, secure)+host, p)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	p := defaultProto(secure)
	return r.addrTargets(ctx, host, portOr(0, p), p)
}

// srvOrAddr is §4.2 with a transport but no port: SRV, else A/AAAA on the
// default port.
func (r *Resolver) srvOrAddr(ctx context.Context, host string, p msg.Proto, secure bool) ([]Target, error) {
	out, err := r.srvTargets(ctx, srvName(p, secure)+host, p)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if len(out) > 0 {
		return out, nil
	}
	return r.addrTargets(ctx, host, portOr(0, p), p)
}

func (r *Resolver) srvTargets(ctx context.Context, name string, p msg.Proto) ([]Target, error) {
	recs, err := r.lookup(ctx, name, mdns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, s := range SortSRV(recs, r.cfg.SRVWeights) {
		t, err := r.addrTargets(ctx, s.Target, s.Port, p)
		if err != nil && !errors.Is(err, ErrNotFound) {
			// One SRV target failing to resolve is a reason to try the next.
			r.log.Debug("srv target does not resolve", zap.String("target", s.Target), zap.Error(err))
			continue
		}
		out = append(out, t...)
	}
	return out, nil
}

// addrTargets resolves host to A (then AAAA) targets on port.
func (r *Resolver) addrTargets(ctx context.Context, host string, port uint16, p msg.Proto) ([]Target, error) {
	ips, err := r.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]Target, 0, len(ips))
	for _, ip := range ips {
		out = append(out, Target{Proto: p, Addr: netip.AddrPortFrom(ip, port), Host: strings.TrimSuffix(host, ".")})
	}
	return out, nil
}

// LookupIP returns the IPv4 then (with TryIPv6) IPv6 addresses of host.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(host, ".")
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	if ips := r.hosts.lookup(host, r.cfg.TryIPv6); len(ips) > 0 {
		return ips, nil
	}
	var out []netip.Addr
	var firstErr error
	types := []uint16{mdns.TypeA}
	if r.cfg.TryIPv6 {
		types = append(types, mdns.TypeAAAA)
	}
	for _, qt := range types {
		recs, err := r.lookup(ctx, host, qt)
		if err != nil {
			if firstErr == nil || errors.Is(firstErr, ErrNotFound) {
				firstErr = err
			}
			continue
		}
		out = append(out, AddrsOf(recs)...)
	}
	if len(out) == 0 {
		if firstErr == nil {
			firstErr = ErrNotFound
		}
		return nil, fmt.Errorf("%s: %w", host, firstErr)
	}
	return out, nil
}

func defaultProto(secure bool) msg.Proto {
	if secure {
		return msg.TLS
	}
	return msg.UDP
}

// portOr is port, or the default port of transport p.
func portOr(port int, p msg.Proto) uint16 {
	if port > 0 && port < 65536 {
		return uint16(port)
	}
	if p == msg.TLS || p == msg.WSS {
		return 5061
	}
	return 5060
}

// srvName is the SRV prefix for transport p (RFC 3263 §4.1, RFC 7118 §5).
func srvName(p msg.Proto, secure bool) string {
	switch p {
	case msg.TCP:
		if secure {
			return "_sips._tcp."
		}
		return "_sip._tcp."
	case msg.TLS:
		return "_sips._tcp."
	case msg.SCTP:
		return "_sip._sctp."
	case msg.WS:
		return "_sip._ws."
	case msg.WSS:
		return "_sips._ws."
	}
	return "_sip._udp."
}

// String renders a target for logs.
func (t Target) String() string { return t.Proto.String() + ":" + t.Addr.String() }
