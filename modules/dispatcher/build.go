package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// maxHostLen is the longest URI host accepted, as in Kamailio.
const maxHostLen = 254

// buildOpts tune one build.
type buildOpts struct {
	prev *table // runtime state of unchanged destinations is kept from it
	// reuseDNS takes the address of an unchanged host from prev instead of
	// asking DNS again (dispatcher.add/remove rebuild the whole list).
	reuseDNS bool
}

// buildResult is a built table and what was said about the entries.
type buildResult struct {
	t     *table
	bad   []string // entries left out
	warns []string // entries loaded with something ignored
}

// build checks every row and assembles the sets. Rows that fail (a bad
// URI, bad attributes, a socket that is not ours, a host that does not
// resolve, a duplicate of an earlier row) are left out and reported; with
// ds_load_mode 1 the first of them fails the build. A build that ends with
// no destination although rows were given fails too: that is a broken list,
// not an empty one.
func (d *Dispatcher) build(ctx context.Context, l loaded, o buildOpts) (buildResult, error) {
	res := buildResult{bad: append([]string(nil), l.bad...), warns: append([]string(nil), l.warns...)}
	if d.cfg.loadMode == 1 && len(res.bad) > 0 {
		return res, fmt.Errorf("ds_load_mode 1: %s", res.bad[0])
	}
	bySet := map[int][]*dest{}
	seen := map[destKey]string{}
	dns := map[string]netip.Addr{}
	total := 0
	for _, r := range l.rows {
		dd, warns, err := d.makeDest(ctx, r, dns, o)
		for _, w := range warns {
			res.warns = append(res.warns, r.where+": "+w)
		}
		if err == nil {
			if first, dup := seen[dd.key()]; dup {
				err = fmt.Errorf("duplicate of %s (set %d, %s)", first, r.setid, dd.uri)
			}
		}
		if err != nil {
			res.bad = append(res.bad, r.where+": "+err.Error())
			if d.cfg.loadMode == 1 {
				return res, fmt.Errorf("ds_load_mode 1: %s", res.bad[len(res.bad)-1])
			}
			continue
		}
		seen[dd.key()] = r.where
		bySet[r.setid] = append(bySet[r.setid], dd)
		total++
	}
	if total == 0 && len(res.bad) > 0 {
		return res, fmt.Errorf("no usable destination (%d entries left out; first: %s)", len(res.bad), res.bad[0])
	}
	sets := make(map[int]*set, len(bySet))
	for id, ds := range bySet {
		sets[id] = newSet(id, ds)
	}
	res.t = newTable(sets)
	res.t.rows = l.rows
	res.t.report = append(append([]string(nil), res.bad...), res.warns...)
	return res, nil
}

// newSet orders destinations as Kamailio does, highest priority first and,
// among equal priorities, the last loaded first, and prepares the weight
// distributions.
func newSet(id int, ds []*dest) *set {
	s := &set{id: id, dests: make([]*dest, len(ds))}
	for i, dd := range ds {
		s.dests[len(ds)-1-i] = dd
	}
	sort.SliceStable(s.dests, func(a, b int) bool { return s.dests[a].priority > s.dests[b].priority })
	initWeights(s)
	initRelWeights(s)
	return s
}

// makeDest checks one row and builds its destination.
func (d *Dispatcher) makeDest(ctx context.Context, r row, dns map[string]netip.Addr, o buildOpts) (*dest, []string, error) {
	uri, u, err := parseDestURI(r.uri)
	if err != nil {
		return nil, nil, err
	}
	text := r.attrs
	if strings.TrimSpace(text) == "" && d.cfg.attrsNone {
		text = "none=yes"
	}
	a, warns, err := parseAttrs(text)
	if err != nil {
		return nil, nil, err
	}
	for name, v := range map[string]string{"ping_from": a.pingFrom, "obproxy": a.obproxy} {
		if v != "" {
			if err := checkSIPURI(v); err != nil {
				return nil, nil, fmt.Errorf("attribute %s: %w", name, err)
			}
		}
	}
	dd := &dest{setid: r.setid, uri: uri, flags: r.flags, priority: r.priority, attrs: a,
		host: u.Host, port: u.Port, rw: a.rweight}
	if dd.proto, err = uriProto(u); err != nil {
		return nil, nil, err
	}
	if dd.sock, err = d.destSocket(a); err != nil {
		return nil, nil, err
	}
	dd.state.Store(uint32(r.flags & stateBits))
	if a.hasLat {
		dd.lat.init(a.latency, trainedCount)
	}
	var prevSet *set
	var prev *dest
	if o.prev != nil {
		prevSet, prev = o.prev.find(r.setid, uri)
	}
	if r.flags&flagNoDNS == 0 && d.cfg.dnsMode&(dnsAtLoad|dnsRefresh) != 0 {
		if err := d.resolveDest(ctx, dd, prev, dns, o.reuseDNS); err != nil {
			return nil, nil, err
		}
	}
	if d.loads != nil && a.duid != "" {
		dd.load = d.loads.counter(r.setid, a.duid)
	}
	if prev != nil && prev.flags == dd.flags {
		keepRuntime(dd, prevSet, prev, d.cfg.retainLatency)
	}
	return dd, warns, nil
}

// keepRuntime carries the health of an unchanged destination over a
// reload: its state, failure/success count, and (ds_retain_latency_stats)
// its latency statistics.
func keepRuntime(dd *dest, ps *set, prev *dest, latency bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	dd.state.Store(prev.state.Load())
	dd.probingCount = prev.probingCount
	if prev.attrs.rweight == dd.attrs.rweight {
		dd.rw = prev.rw // lowered by congestion control
	}
	if latency {
		dd.lat = prev.lat
	}
}

// parseDestURI checks a destination URI. As in Kamailio a URI without
// scheme is taken as sip:.
func parseDestURI(s string) (string, *sip.Uri, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil, errors.New("empty destination")
	}
	if strings.ContainsAny(s, " \t\r\n\x00\"<>") {
		return "", nil, fmt.Errorf("bad URI %q: white space, quotes or angle brackets", s)
	}
	if !hasScheme(s) {
		if i := strings.IndexByte(s, ':'); i > 0 && isLetters(s[:i]) && !digits(s[i+1:]) {
			return "", nil, fmt.Errorf("bad URI %q: not sip: or sips:", s)
		}
	}
	u := &sip.Uri{}
	err := sip.ParseUri(s, u)
	if (err != nil || u.Host == "") && !hasScheme(s) {
		if u2 := (&sip.Uri{}); sip.ParseUri("sip:"+s, u2) == nil && u2.Host != "" {
			s, u, err = "sip:"+s, u2, nil
		}
	}
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("bad URI %q", s)
	}
	if !strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips") {
		return "", nil, fmt.Errorf("bad URI %q: not sip: or sips:", s)
	}
	if len(u.Host) > maxHostLen {
		return "", nil, fmt.Errorf("bad URI %q: host longer than %d", s, maxHostLen)
	}
	if u.Port < 0 || u.Port > 65535 {
		return "", nil, fmt.Errorf("bad URI %q: port out of range", s)
	}
	host := strings.Trim(u.Host, "[]")
	if strings.HasPrefix(u.Host, "[") {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return "", nil, fmt.Errorf("bad URI %q: %q is not an IPv6 address", s, u.Host)
		}
	}
	return s, u, nil
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

func hasScheme(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")
}

// uriProto is the transport a URI asks for: transport=, else TLS for
// sips:, else none (any).
func uriProto(u *sip.Uri) (msg.Proto, error) {
	if t, ok := u.UriParams.Get("transport"); ok {
		p, known := msg.ParseProto(t)
		if !known {
			return msg.ProtoNone, fmt.Errorf("unknown transport %q", t)
		}
		return p, nil
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return msg.TLS, nil
	}
	return msg.ProtoNone, nil
}

// destSocket is the socket a destination is sent from: sockname=, else
// socket=, else ds_default_socket. It must be one we listen on.
func (d *Dispatcher) destSocket(a attrs) (*sockRef, error) {
	spec := a.sockname
	if spec == "" {
		spec = a.socket
	}
	if spec == "" {
		return d.cfg.defaultSock, nil
	}
	ref, err := parseSockSpec(spec)
	if err != nil {
		return nil, err
	}
	if !d.isLocalSocket(ref) {
		return nil, fmt.Errorf("socket %s is not a listening socket", spec)
	}
	return ref, nil
}

// isLocalSocket checks a socket name against the open sockets, or before
// they open (first load, sbc --check) against the listen configuration.
func (d *Dispatcher) isLocalSocket(ref *sockRef) bool {
	if d.core == nil {
		return true
	}
	if open := d.core.TP.Sockets; len(open) > 0 {
		return ref.get(open) != nil
	}
	for _, l := range d.core.Cfg.Listen {
		p, _ := msg.ParseProto(l.Proto)
		ls := localSocket{proto: p, addr: l.Addr}
		if ref.matches(ls) || p == ref.proto && l.Addr.Addr().IsUnspecified() && l.Addr.Port() == ref.addr.Port() {
			return true
		}
	}
	return false
}

// dnsTimeout bounds one host lookup at load.
const dnsTimeout = 2 * time.Second

// resolveDest sets the address of dd: an IP literal as is, a name through
// DNS (once per name and load, or taken from prev).
func (d *Dispatcher) resolveDest(ctx context.Context, dd, prev *dest, cache map[string]netip.Addr, reuse bool) error {
	host := strings.Trim(dd.host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		dd.ip.Store(&ip)
		dd.dnsAt.Store(time.Now().UnixNano())
		return nil
	}
	key := strings.ToLower(host)
	if ip, ok := cache[key]; ok {
		dd.ip.Store(&ip)
		dd.dnsAt.Store(time.Now().UnixNano())
		return nil
	}
	if reuse && prev != nil && strings.EqualFold(prev.host, dd.host) {
		if ip, ok := prev.addr(); ok {
			dd.ip.Store(&ip)
			dd.dnsAt.Store(prev.dnsAt.Load())
			return nil
		}
	}
	ip, err := d.lookup(ctx, host)
	if err != nil {
		return err
	}
	cache[key] = ip
	dd.ip.Store(&ip)
	dd.dnsAt.Store(time.Now().UnixNano())
	return nil
}

// lookup resolves a host name to its first address.
func (d *Dispatcher) lookup(ctx context.Context, host string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	ips, err := d.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		if err == nil {
			err = errors.New("no address")
		}
		return netip.Addr{}, fmt.Errorf("cannot resolve host %q: %v", host, err)
	}
	return ips[0].Unmap(), nil
}
