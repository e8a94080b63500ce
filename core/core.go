// Package core wires listeners, the bounded worker pool and the stateless
// send paths together, and calls the Router (the Lua engine) for each message.
package core

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/dns"
	"github.com/luasbc/luasbc/core/metrics"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/core/transport"
)

// Version of luasbc.
var Version = "0.1.0"

// Router runs the routing logic for received messages.
type Router interface {
	// Request runs the request route.
	Request(m *msg.Msg)
	// Reply runs the reply route; it returns true when the script dropped the reply.
	Reply(m *msg.Msg) (drop bool)
	// Onsend runs the onsend route before a message leaves; true drops it.
	Onsend(m *msg.Msg, to msg.SendInfo, data []byte) (drop bool)
}

// ReplyHandler lets a stateful module (tm) take a reply before it is relayed
// statelessly; it returns true when it consumed the reply.
type ReplyHandler func(m *msg.Msg) bool

// Core is the running server.
type Core struct {
	Cfg    *config.Config
	Log    *zap.Logger
	TP     *transport.Layer
	Router Router
	Start  time.Time

	// ReplyHandlers are tried in order for every reply not dropped by the reply route.
	ReplyHandlers []ReplyHandler
	// RequestFilters run before the request route; true consumes the request
	// (e.g. sl absorbing the ACK of a local reply).
	RequestFilters []func(m *msg.Msg) bool
	// OutHooks add header edits to a request about to leave over socket out,
	// for edits that depend on it (rr's Record-Route with the socket's
	// address); they run for stateless forwards and for every tm branch.
	OutHooks []func(m *msg.Msg, out *msg.Socket) []msg.Lump
	// ReceiveFilters and SendFilters are the raw-message hooks of topology
	// hiding: before parsing, and as the last step before sending (Prepare).
	ReceiveFilters []ReceiveFilter
	SendFilters    []SendFilter
	// RequestDone run after the request route returned (tmx forgets the
	// request it tracked for t_precheck_trans).
	RequestDone []func(m *msg.Msg)
	// ConnClosed are told when a stream connection ends (tm fails the
	// branches waiting on it).
	ConnClosed []func(connID uint64)

	queue   chan transport.Packet
	workers int
	wg      sync.WaitGroup
	nextID  atomic.Uint64
	busy    atomic.Int64
	order   connOrder

	myIPs map[netip.Addr]bool
	anyIP bool
	// aliases maps a host to the ports it was given with; an empty set
	// means any port, as for a Kamailio alias without a port.
	aliases map[string]map[int]bool
	ports   map[int]bool

	badlog badLog
	shed   shedMemo

	// Resolver is kept for callers that look up plain names; SIP next
	// hops go through DNS (RFC 3263, cache, blocklist).
	Resolver *net.Resolver
	DNS      *dns.Resolver
	// DNSFailover: a request whose destination times out or refuses is
	// sent to the next DNS target (use_dns_failover).
	DNSFailover bool

	st struct {
		rcvReq, rcvRpl, fwdReq, fwdRpl, dropReq, dropRpl, errReq, errRpl *stats.Counter
		badMsg, shedReq, shedDrop, slReplies                             *stats.Counter
	}
}

// New builds a core from a config; listeners are opened by Listen.
func New(cfg *config.Config, log *zap.Logger) *Core {
	c := &Core{Cfg: cfg, Log: log, Start: time.Now(), Resolver: net.DefaultResolver}
	c.workers = cfg.Core.Workers
	if c.workers <= 0 {
		c.workers = cfg.Lua.Workers
	}
	if c.workers <= 0 {
		c.workers = DefaultWorkers()
	}
	c.queue = make(chan transport.Packet, cfg.Core.QueueSize)
	k := &cfg.Core
	c.TP = transport.New(transport.Options{
		MaxMessage:        k.MaxMessageSize,
		ConnLifetime:      config.Seconds(k.TCPConnectionLifetime),
		MaxConnections:    k.TCPMaxConnections,
		MaxTLSConnections: k.TLSMaxConnections,
		DialTimeout:       config.Seconds(k.TCPConnectTimeout),
		WriteTimeout:      config.Seconds(k.TCPSendTimeout),
		FirstDataTimeout:  config.Seconds(k.TCPMsgDataTimeout),
		MsgReadTimeout:    config.Seconds(k.TCPMsgReadTimeout),
		AcceptAliases:     k.TCPAcceptAliases,
		OnBad:             c.badInput,
		OnClose:           c.connClosed,
	}, log, c.deliver)
	c.DNS = newDNS(cfg, log)
	c.DNSFailover = config.On(k.UseDNSFailover, true)
	c.aliases = map[string]map[int]bool{}
	for _, a := range cfg.Alias {
		h, port := splitAlias(a)
		ports := c.aliases[h]
		if ports == nil {
			ports = map[int]bool{}
			c.aliases[h] = ports
		}
		if port != 0 {
			ports[port] = true
		}
	}
	s := &c.st
	s.rcvReq = stats.New("core", "rcv_requests", "requests received")
	s.rcvRpl = stats.New("core", "rcv_replies", "replies received")
	s.fwdReq = stats.New("core", "fwd_requests", "requests forwarded statelessly")
	s.fwdRpl = stats.New("core", "fwd_replies", "replies relayed statelessly")
	s.dropReq = stats.New("core", "drop_requests", "requests dropped")
	s.dropRpl = stats.New("core", "drop_replies", "replies dropped")
	s.errReq = stats.New("core", "err_requests", "requests that failed to send")
	s.errRpl = stats.New("core", "err_replies", "replies that failed to send")
	s.badMsg = stats.New("core", "bad_msg", "messages that could not be parsed")
	s.shedReq = stats.New("core", "shed_requests", "requests answered 503 because the queue was full")
	s.shedDrop = stats.New("core", "shed_drops", "messages dropped because the queue was full")
	s.slReplies = stats.New("core", "local_replies", "replies generated locally")
	stats.Gauge("core", "queue_length", func() int64 { return int64(len(c.queue)) })
	stats.Gauge("core", "busy_workers", func() int64 { return c.busy.Load() })
	return c
}

// DefaultWorkers is the automatic worker count.
func DefaultWorkers() int {
	n := runtime.GOMAXPROCS(0) * 4
	if n < 8 {
		n = 8
	}
	return n
}

// Workers is the number of worker goroutines.
func (c *Core) Workers() int { return c.workers }

// QueueLen is the number of packets waiting.
func (c *Core) QueueLen() int { return len(c.queue) }

// Listen opens every configured socket (TLS profiles first, so tls: and
// wss: listeners find their certificates).
func (c *Core) Listen() error {
	c.myIPs = map[netip.Addr]bool{}
	c.ports = map[int]bool{}
	if len(c.Cfg.TLS) > 0 {
		if err := c.TP.SetTLS(tlsProfiles(c.Cfg.TLS)); err != nil {
			return err
		}
	}
	for _, l := range c.Cfg.Listen {
		var s *msg.Socket
		var err error
		switch l.Proto {
		case "udp":
			s, err = c.TP.ListenUDP(l.Addr)
		case "tcp":
			s, err = c.TP.ListenTCP(l.Addr)
		case "tls":
			s, err = c.TP.ListenTLS(l.Addr)
		case "ws":
			s, err = c.TP.ListenWS(l.Addr)
		case "wss":
			s, err = c.TP.ListenWSS(l.Addr)
		default:
			err = fmt.Errorf("transport %s not supported", l.Proto)
		}
		if err != nil {
			c.TP.Close()
			return fmt.Errorf("listen %s: %w", l.Raw, err)
		}
		s.AdvHost, s.AdvPort = l.AdvHost, l.AdvPort
		c.ports[int(s.Addr.Port())] = true
		if l.AdvPort != 0 {
			c.ports[l.AdvPort] = true
		}
		if l.AdvHost != "" {
			c.addAdvertised(l.AdvHost, l.AdvPort)
		}
		if s.Addr.Addr().IsUnspecified() {
			c.anyIP = true
		} else {
			c.myIPs[s.Addr.Addr()] = true
		}
	}
	if c.anyIP {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					c.myIPs[p.Addr().Unmap()] = true
				}
			}
		}
	}
	return nil
}

// Run starts workers and readers.
func (c *Core) Run() {
	for i := 0; i < c.workers; i++ {
		c.wg.Add(1)
		go c.worker()
	}
	c.TP.Start()
}

// Stop closes listeners, then lets queued messages finish within the bound.
func (c *Core) Stop(bound time.Duration) {
	c.TP.Close()
	done := make(chan struct{})
	go func() {
		close(c.queue)
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(bound):
		c.Log.Warn("stop: workers still busy after bound", zap.Duration("bound", bound))
	}
}

func (c *Core) worker() {
	defer c.wg.Done()
	for p := range c.queue {
		c.busy.Add(1)
		c.handle(p)
		c.busy.Add(-1)
		if c.order.done(p.ConnID) {
			c.notifyClosed(p.ConnID)
		}
	}
}

// HandlePacket parses and routes one packet on the calling goroutine, as a
// worker does (benchmarks and tests).
func (c *Core) HandlePacket(p transport.Packet) { c.handle(p) }

// handle parses and routes one packet; a panic in a handler is logged, never fatal.
func (c *Core) handle(p transport.Packet) {
	defer func() {
		if r := recover(); r != nil {
			c.Log.Error("panic while handling a message", zap.Any("panic", r), zap.String("src", p.Src.String()),
				zap.Stack("stack"))
		}
	}()
	if len(c.ReceiveFilters) > 0 && !c.received(&p) {
		return
	}
	m, err := msg.Parse(p.Data, p.Src, p.Sock, p.Sock.Proto)
	if err != nil {
		c.badMessage(p, err)
		return
	}
	m.ID = c.nextID.Add(1)
	m.ConnID = p.ConnID
	if m.Req != nil {
		metrics.Received(m.Method(), 0)
		c.st.rcvReq.Inc()
		for _, f := range c.RequestFilters {
			if f(m) {
				return
			}
		}
		m.RouteType = msg.RouteRequest
		c.Router.Request(m)
		for _, f := range c.RequestDone {
			f(m)
		}
		return
	}
	c.st.rcvRpl.Inc()
	metrics.Received(m.Method(), m.Status())
	c.HandleReply(m)
}

// HandleReply runs the reply route, then tm, then relays statelessly.
func (c *Core) HandleReply(m *msg.Msg) {
	m.RouteType = msg.RouteReply
	if c.Router.Reply(m) {
		c.st.dropRpl.Inc()
		return
	}
	for _, h := range c.ReplyHandlers {
		if h(m) {
			return
		}
	}
	c.RelayReply(m)
}

// connClosed runs the ConnClosed hooks once the messages read from the
// connection before it closed are handled.
func (c *Core) connClosed(id uint64) {
	if c.order.close(id) {
		c.notifyClosed(id)
	}
}

func (c *Core) notifyClosed(id uint64) {
	for _, f := range c.ConnClosed {
		f(id)
	}
}

// OutLumps returns m's header edits plus those the OutHooks add for a copy
// leaving over out; m itself is not changed.
func (c *Core) OutLumps(m *msg.Msg, out *msg.Socket) []msg.Lump {
	if len(c.OutHooks) == 0 {
		return m.Lumps
	}
	lumps := m.Lumps[:len(m.Lumps):len(m.Lumps)]
	for _, h := range c.OutHooks {
		lumps = append(lumps, h(m, out)...)
	}
	return lumps
}

// badInput counts and logs (once per source and reason) input the transport
// dropped before it became a message.
func (c *Core) badInput(src netip.AddrPort, sock *msg.Socket, size int, reason string) {
	c.st.badMsg.Inc()
	if c.badlog.first(src.Addr(), reason) {
		c.Log.Info("bad input dropped", zap.String("src", src.String()), zap.String("proto", sock.Proto.String()),
			zap.Int("len", size), zap.String("reason", reason))
	}
}

// badMessage answers 400 when the request can be addressed, else drops; it
// logs once per source and reason, never the payload.
func (c *Core) badMessage(p transport.Packet, err error) {
	c.st.badMsg.Inc()
	reason := logReason(err)
	if c.badlog.first(p.Src.Addr(), reason) {
		c.Log.Info("bad message dropped", zap.String("src", p.Src.String()), zap.String("proto", p.Sock.Proto.String()),
			zap.Int("len", len(p.Data)), zap.String("reason", reason))
	}
	if reply, dst, ok := BadRequestReply(p.Data, p.Src, "Bad Request"); ok {
		c.sendRaw(p.Sock.Proto, dst, reply, transport.SendOpts{From: p.Sock, ConnID: p.ConnID, NoConnect: true})
	}
}

func (c *Core) sendRaw(proto msg.Proto, dst netip.AddrPort, b []byte, o transport.SendOpts) error {
	_, err := c.TP.Send(proto, dst, b, o)
	return err
}

// ServerHeader is the Server line for local replies ("" when signatures are off).
func (c *Core) ServerHeader() string {
	if *c.Cfg.ServerSignature {
		return c.Cfg.ServerHeader
	}
	return ""
}

// UserAgentHeader is the User-Agent line for locally generated requests.
func (c *Core) UserAgentHeader() string {
	if *c.Cfg.ServerSignature {
		return c.Cfg.UserAgentHeader
	}
	return ""
}

// ReplyDest computes where a reply to request m goes (RFC 3261 §18.2.2, RFC 3581).
func ReplyDest(m *msg.Msg) netip.AddrPort {
	via := m.TopVia()
	if m.Proto.Stream() || via == nil {
		return m.Src
	}
	if v, ok := via.Params.Get("rport"); (ok && v == "") || m.ForceRport {
		return m.Src
	}
	port := via.Port
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(m.Src.Addr(), uint16(port))
}

// SendReply builds and sends a local reply to request m, with the reply lumps
// and Server header. It records the final status for sl's -2 semantics.
func (c *Core) SendReply(m *msg.Msg, o msg.ReplyOpts) error {
	if m.Req == nil {
		return errors.New("cannot reply to a reply")
	}
	if m.Req.Method == sip.ACK {
		return errors.New("ACK cannot be replied to")
	}
	if o.Server == "" {
		o.Server = c.ServerHeader()
	}
	o.Headers = append(o.Headers, m.ReplyLumps...)
	if o.ToTag == "" {
		o.ToTag = LocalTag(m)
	}
	var b msg.Builder
	m.BuildReply(&b, o)
	dst := ReplyDest(m)
	data, ok := c.Prepare(m, b.B, msg.SendInfo{Proto: m.Proto, Addr: dst}, true, true)
	if !ok {
		return nil
	}
	_, err := c.TP.Send(m.Proto, dst, data, transport.SendOpts{
		From: m.Rcv, ConnID: m.ConnID, NoConnect: m.ReplyNoConnect, Close: m.ReplyClose,
	})
	if o.Code >= 200 {
		m.FinalReplied = o.Code
	}
	c.st.slReplies.Inc()
	if err != nil {
		c.st.errRpl.Inc()
		c.Log.Debug("reply not sent", zap.String("dst", dst.String()), zap.Error(err))
	}
	return err
}

// LocalTag derives the To-tag of local replies from the request, so a
// retransmitted request gets the same tag and the ACK can be recognised.
func LocalTag(m *msg.Msg) string { return TagFor(m, "lsbc.") }

// TagFor is a To-tag derived from the request's Call-ID, From tag and top
// Via branch behind prefix, which tells whose reply it was (sl or tm).
func TagFor(m *msg.Msg, prefix string) string {
	h := sha1.New()
	h.Write([]byte(m.CallID()))
	if f := m.SIP.From(); f != nil {
		t, _ := f.Params.Get("tag")
		h.Write([]byte(t))
	}
	if v := m.TopVia(); v != nil {
		b, _ := v.Params.Get("branch")
		h.Write([]byte(b))
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:8])
}

// Target is a resolved next hop.
type Target struct {
	Proto msg.Proto
	Addr  netip.AddrPort
	Host  string // name the address was found for: TLS SNI and certificate check
}

// String renders the target as proto:ip:port for logs.
func (t Target) String() string { return t.Proto.String() + ":" + t.Addr.String() }

// Resolve turns a SIP URI into the first transport address to try (see
// ResolveAll).
func (c *Core) Resolve(ctx context.Context, uri string) (Target, error) {
	ts, err := c.ResolveAll(ctx, uri)
	if err != nil {
		return Target{}, err
	}
	return ts[0], nil
}

// ResolveAll turns a SIP URI into the transport addresses to try, in order
// (RFC 3263): the transport= parameter or the scheme picks the protocol,
// maddr the host; an IP literal is used as is; a name without port goes
// through NAPTR (no transport given) and SRV, then A/AAAA. Destinations on
// the blocklist come last. ctx bounds the lookups.
func (c *Core) ResolveAll(ctx context.Context, uri string) ([]Target, error) {
	u := &sip.Uri{}
	if err := sip.ParseUri(uri, u); err != nil {
		return nil, fmt.Errorf("bad URI %q: %w", uri, err)
	}
	secure := strings.EqualFold(u.Scheme, "sips")
	proto := msg.ProtoNone
	if t, ok := u.UriParams.Get("transport"); ok {
		p, ok := msg.ParseProto(t)
		if !ok {
			return nil, fmt.Errorf("unknown transport %q", t)
		}
		proto = p
		// sips over tcp is TLS, over ws secure WebSocket (RFC 3261 §26.2.2, RFC 7118).
		if secure && p == msg.TCP {
			proto = msg.TLS
		} else if secure && p == msg.WS {
			proto = msg.WSS
		}
	}
	if proto == msg.WS && !c.TP.HasProto(msg.WS) && c.TP.HasProto(msg.WSS) {
		proto = msg.WSS // transport=ws stands for secure WebSocket too (RFC 7118)
	}
	if ma, ok := u.UriParams.Get("maddr"); ok && ma != "" {
		u.Host = ma
	}
	rctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	ts, err := c.DNS.Resolve(rctx, dns.Query{Host: u.Host, Port: u.Port, Proto: proto, Secure: secure, Supported: c.TP.HasProto})
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %q: %w", u.Host, err)
	}
	out := make([]Target, len(ts))
	for i, t := range ts {
		// A WebSocket client is reached over its connection, ws or wss.
		out[i] = Target{Proto: c.TP.StreamProto(t.Proto, t.Addr), Addr: t.Addr, Host: t.Host}
	}
	return out, nil
}

// SendSocket is the local socket a request to t leaves from: the forced
// one (loose_route's double Record-Route, $fs, set_send_socket) when it
// has t's transport — for WebSocket either kind, and t takes the socket's
// — else one PickSocket chooses, preferring rcv.
func (c *Core) SendSocket(force, rcv *msg.Socket, t *Target) *msg.Socket {
	if force != nil {
		ws := func(p msg.Proto) bool { return p == msg.WS || p == msg.WSS }
		if force.Proto == t.Proto || ws(force.Proto) && ws(t.Proto) {
			t.Proto = force.Proto
			return force
		}
	}
	return c.TP.PickSocket(t.Proto, t.Addr.Addr(), rcv)
}

// Blocklist records that a destination timed out or refused, so the next
// lookups try it last (dst_blocklist; no-op when use_dst_blocklist is off).
func (c *Core) Blocklist(t Target) { c.DNS.Blocklist().Add(t.Proto, t.Addr) }

// Branch computes the deterministic Via branch for a stateless forward, so a
// retransmitted request leaves with the same branch.
func Branch(m *msg.Msg, nexthop string) string {
	h := sha1.New()
	if v := m.TopVia(); v != nil {
		b, _ := v.Params.Get("branch")
		if strings.HasPrefix(b, "z9hG4bK") {
			h.Write([]byte(b))
		} else {
			h.Write([]byte(m.CallID()))
			if cs := m.SIP.CSeq(); cs != nil {
				h.Write([]byte(strconv.FormatUint(uint64(cs.SeqNo), 10)))
			}
			if f := m.SIP.From(); f != nil {
				t, _ := f.Params.Get("tag")
				h.Write([]byte(t))
			}
		}
	}
	h.Write([]byte(nexthop))
	return "z9hG4bKsl." + hex.EncodeToString(h.Sum(nil)[:10])
}

// ViaFor renders our Via value for a message leaving over sock.
func (c *Core) ViaFor(m *msg.Msg, sock *msg.Socket, branch string) string {
	hp := sock.HostPort()
	if m.AdvAddr != "" || m.AdvPort != "" {
		host, port, _ := net.SplitHostPort(hp)
		if m.AdvAddr != "" {
			host = m.AdvAddr
		}
		if m.AdvPort != "" {
			port = m.AdvPort
		}
		hp = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	v := "SIP/2.0/" + sock.Proto.Upper() + " " + hp + ";branch=" + branch
	if m.AddLocalRport {
		v += ";rport"
	}
	return v
}

// Forward relays request m statelessly to uri ($du or R-URI when ""). ctx
// bounds DNS and connection set-up (the script callback's deadline). When
// the destination refuses (a stream connection cannot be opened), the next
// DNS target is tried (use_dns_failover).
func (c *Core) Forward(ctx context.Context, m *msg.Msg, uri string) error {
	if m.Req == nil {
		return errors.New("not a request")
	}
	if uri == "" {
		uri = m.NextHop()
	}
	ts, err := c.ResolveAll(ctx, uri)
	if err != nil {
		c.st.errReq.Inc()
		m.ErrCode = 478
		return err
	}
	if !c.DNSFailover {
		ts = ts[:1]
	}
	mf := MaxForwardsOut(m)
	if mf == 0 {
		return errors.New("Max-Forwards exhausted")
	}
	for i, t := range ts {
		err = c.forwardTo(ctx, m, t, mf)
		if err == nil || errors.Is(err, errDropped) {
			return nil
		}
		if m.ErrCode == 477 && i+1 < len(ts) {
			c.Blocklist(t)
			c.Log.Debug("forward failed over to the next destination", zap.String("dst", t.Addr.String()), zap.Error(err))
			continue
		}
		break
	}
	return err
}

var errDropped = errors.New("dropped by the onsend route")

func (c *Core) forwardTo(ctx context.Context, m *msg.Msg, t Target, mf int) error {
	sock := c.SendSocket(m.ForceSocket, m.Rcv, &t)
	if sock == nil {
		c.st.errReq.Inc()
		m.ErrCode = 477
		return fmt.Errorf("no %s socket to reach %s", t.Proto, t.Addr)
	}
	var b msg.Builder
	saved := m.Lumps
	m.Lumps = c.OutLumps(m, sock)
	m.BuildRequest(&b, msg.ForwardOpts{RURI: m.RURIString(), Via: c.ViaFor(m, sock, Branch(m, t.Addr.String())), MaxFwd: mf})
	m.Lumps = saved
	data, ok := c.Prepare(m, b.B, msg.SendInfo{Proto: t.Proto, Addr: t.Addr}, false, false)
	if !ok {
		c.st.dropReq.Inc()
		return errDropped
	}
	if _, err := c.TP.Send(t.Proto, t.Addr, data, transport.SendOpts{From: sock, NoConnect: m.ForwardNoConnect,
		Close: m.ForwardClose, Ctx: ctx, ServerName: t.Host}); err != nil {
		c.st.errReq.Inc()
		m.ErrCode = 477
		return err
	}
	c.st.fwdReq.Inc()
	return nil
}

// MaxForwardsOut is the Max-Forwards value an outgoing copy of m carries:
// what maxfwd set, else the received value minus one, else 70.
func MaxForwardsOut(m *msg.Msg) int {
	if v, ok := m.GetExt("maxfwd").(int); ok {
		return v
	}
	if v, ok := m.HeaderType(msg.HMaxForwards); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return 0
		}
		return n - 1
	}
	return 70
}

// RelayReply sends a reply on to the hop in its second Via.
func (c *Core) RelayReply(m *msg.Msg) {
	v2, ok := m.SecondVia()
	if !ok {
		c.st.dropRpl.Inc()
		return
	}
	// Only relay replies whose top Via is ours.
	top := m.TopVia()
	if top == nil || !c.IsMyself(top.Host, top.Port) {
		c.st.dropRpl.Inc()
		return
	}
	proto, dst, err := ViaDest(v2)
	if err != nil {
		c.st.dropRpl.Inc()
		return
	}
	var b msg.Builder
	if !m.BuildReplyRelay(&b) {
		c.st.dropRpl.Inc()
		return
	}
	data, ok := c.Prepare(m, b.B, msg.SendInfo{Proto: proto, Addr: dst}, true, false)
	if !ok {
		c.st.dropRpl.Inc()
		return
	}
	if _, err := c.TP.Send(proto, dst, data, transport.SendOpts{From: m.Rcv, NoConnect: m.ForwardNoConnect}); err != nil {
		c.st.errRpl.Inc()
		return
	}
	c.st.fwdRpl.Inc()
}

// ViaDest returns where a reply for Via value v goes: received/rport when
// present, else sent-by.
func ViaDest(v string) (msg.Proto, netip.AddrPort, error) {
	var vh sip.ViaHeader
	hdrs, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte("Via: "+v))
	if err != nil || len(hdrs) == 0 {
		return 0, netip.AddrPort{}, fmt.Errorf("bad Via %q", v)
	}
	vh = *hdrs[0].(*sip.ViaHeader)
	proto, ok := msg.ParseProto(vh.Transport)
	if !ok {
		return 0, netip.AddrPort{}, fmt.Errorf("bad Via transport %q", vh.Transport)
	}
	host := strings.Trim(vh.Host, "[]")
	if r, ok := vh.Params.Get("received"); ok && r != "" {
		host = strings.Trim(r, "[]")
	}
	port := vh.Port
	if r, ok := vh.Params.Get("rport"); ok && r != "" {
		if p, err := strconv.Atoi(r); err == nil && p > 0 && p < 65536 {
			port = p
		}
	}
	if port == 0 {
		port = 5060
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("Via host %q is not an address", host)
	}
	return proto, netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// IsMyself reports whether host[:port] is one of our addresses or aliases.
// port 0 means "any of our ports".
func (c *Core) IsMyself(host string, port int) bool {
	h := strings.ToLower(strings.Trim(host, "[]"))
	if ports, ok := c.aliases[h]; ok && (port == 0 || len(ports) == 0 || ports[port]) {
		return true
	}
	if port != 0 && !c.ports[port] {
		return false
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return c.myIPs[ip.Unmap()]
	}
	return false
}

// splitAlias parses an alias entry: "host", "host:port", "proto:host:port",
// "[v6]" or "[v6]:port". A bad port is taken as "any port".
func splitAlias(a string) (string, int) {
	a = strings.ToLower(strings.TrimSpace(a))
	if p, rest, ok := strings.Cut(a, ":"); ok {
		if _, isProto := msg.ParseProto(p); isProto {
			a = rest
		}
	}
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return strings.Trim(a, "[]"), 0
		}
		host, rest := a[1:end], a[end+1:]
		port, _ := strconv.Atoi(strings.TrimPrefix(rest, ":"))
		return host, port
	}
	if strings.Count(a, ":") > 1 { // bare IPv6 without brackets: no port
		return a, 0
	}
	host, p, _ := strings.Cut(a, ":")
	port, _ := strconv.Atoi(p)
	return host, port
}

// IsMyselfURI tests a SIP URI (or bare host[:port]).
func (c *Core) IsMyselfURI(s string) bool {
	if !strings.Contains(s, ":") || strings.HasPrefix(s, "[") {
		return c.IsMyself(s, 0)
	}
	u := &sip.Uri{}
	if err := sip.ParseUri(s, u); err != nil || u.Host == "" {
		// host:port without a scheme
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return c.IsMyself(s, 0)
		}
		p, _ := strconv.Atoi(port)
		return c.IsMyself(host, p)
	}
	port := u.Port
	if port == 0 {
		// No port: any alias of the host matches (as Kamailio's alias check
		// with port 0); our addresses only on the default port.
		if _, ok := c.aliases[strings.ToLower(strings.Trim(u.Host, "[]"))]; ok {
			return true
		}
		port = 5060
		if strings.EqualFold(u.Scheme, "sips") {
			port = 5061
		}
	}
	return c.IsMyself(u.Host, port)
}

// IsMyIP reports whether ip is one of the addresses we listen on.
func (c *Core) IsMyIP(ip netip.Addr) bool { return c.myIPs[ip.Unmap()] }
