package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
)

// pingBranchPrefix starts the Via branch of every keepalive, so the reply
// handler takes exactly its own replies; the rest of the branch is random.
const pingBranchPrefix = "z9hG4bKdsp."

// maxPingSends bounds the keepalives being sent at once (a TCP connect to
// a dead host can take the dial timeout).
const maxPingSends = 64

// pinger sends the OPTIONS keepalives (built here, sent from a listening
// socket) and matches their replies; a keepalive without a final reply
// after its timeout counts as a 408, as tm's would. One keepalive per
// destination is in flight at a time.
type pinger struct {
	d       *Dispatcher
	timeout time.Duration
	sem     chan struct{}

	mu       sync.Mutex
	pending  map[string]*ping // by branch
	inflight map[destKey]*ping
}

type ping struct {
	key    destKey
	branch string
	sent   time.Time
	timer  *time.Timer
}

func newPinger(d *Dispatcher, timeout time.Duration) *pinger {
	return &pinger{d: d, timeout: timeout, sem: make(chan struct{}, maxPingSends),
		pending: map[string]*ping{}, inflight: map[destKey]*ping{}}
}

// shouldPing reports whether dd gets a keepalive this round.
func (p *pinger) shouldPing(dd *dest) bool {
	st := dd.state.Load()
	if st&flagDisabled != 0 || dd.flags&(flagNoPing|flagNoDNS) != 0 {
		return false
	}
	switch p.d.cfg.probingMode {
	case probeAll:
		return true
	case probeInactive:
		return st&flagProbing != 0 && st&flagInactive != 0
	}
	return st&flagProbing != 0
}

// round sends one keepalive to every destination that should get one.
func (p *pinger) round() {
	d := p.d
	if !d.pingActive.Load() {
		return
	}
	for _, s := range d.tab.Load().order {
		for _, dd := range s.dests {
			if !p.shouldPing(dd) {
				continue
			}
			p.mu.Lock()
			_, busy := p.inflight[dd.key()]
			p.mu.Unlock()
			if busy {
				continue
			}
			select {
			case p.sem <- struct{}{}:
			case <-d.stop:
				return
			}
			go func(dd *dest) {
				defer func() { <-p.sem }()
				p.send(dd)
			}(dd)
		}
	}
}

// send builds and sends one keepalive to dd.
func (p *pinger) send(dd *dest) {
	d := p.d
	if d.stopped() {
		return
	}
	branch := pingBranchPrefix + randHex(10)
	pg := &ping{key: dd.key(), branch: branch}
	p.mu.Lock()
	if _, busy := p.inflight[pg.key]; busy {
		p.mu.Unlock()
		return
	}
	p.pending[branch] = pg
	p.inflight[pg.key] = pg
	p.mu.Unlock()

	proto, to, err := p.target(dd)
	var sock *msg.Socket
	if err == nil {
		if sock = d.sendSocket(dd); sock == nil || sock.Proto != proto {
			sock = d.core.TP.PickSocket(proto, to.Addr(), nil)
		}
		if sock == nil {
			err = fmt.Errorf("no %s socket to reach %s", proto, to)
		}
	}
	if err == nil {
		data := p.request(dd, sock, branch)
		p.mu.Lock()
		pg.sent = time.Now()
		pg.timer = time.AfterFunc(p.timeout, func() { p.complete(branch, 408, "Request Timeout", false) })
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		_, err = d.core.TP.Send(proto, to, data, transport.SendOpts{From: sock, Ctx: ctx})
		cancel()
		d.st.pingsSent.Inc()
	}
	if err != nil {
		d.log.Debug("dispatcher: keepalive not sent", zap.Int("set", dd.setid), zap.String("uri", dd.uri), zap.Error(err))
		p.complete(branch, 500, "Sending keepalive failed", false)
	}
}

// target is where a keepalive to dd goes: the outbound proxy (obproxy
// attribute, outbound_proxy parameter) or the destination itself.
func (p *pinger) target(dd *dest) (msg.Proto, netip.AddrPort, error) {
	obp := dd.attrs.obproxy
	if obp == "" {
		obp = p.d.cfg.outboundProxy
	}
	if obp != "" {
		ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
		defer cancel()
		t, err := p.d.core.Resolve(ctx, obp)
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		return t.Proto, t.Addr, nil
	}
	ip, ok := dd.addr()
	if !ok {
		return 0, netip.AddrPort{}, fmt.Errorf("%s has no address", dd.host)
	}
	proto := dd.proto
	if proto == msg.ProtoNone {
		proto = msg.UDP
	}
	port := dd.port
	if port == 0 {
		port = 5060
		if proto == msg.TLS {
			port = 5061
		}
	}
	return proto, netip.AddrPortFrom(ip, uint16(port)), nil
}

// request renders the keepalive: R-URI and To are the destination, From
// is ping_from (or ds_ping_from).
func (p *pinger) request(dd *dest, sock *msg.Socket, branch string) []byte {
	from := dd.attrs.pingFrom
	if from == "" {
		from = p.d.cfg.pingFrom
	}
	var b strings.Builder
	method := p.d.cfg.pingMethod
	b.WriteString(method + " " + dd.uri + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/" + sock.Proto.Upper() + " " + sock.HostPort() + ";branch=" + branch + ";rport\r\n")
	b.WriteString("From: <" + from + ">;tag=" + randHex(8) + "\r\n")
	b.WriteString("To: <" + dd.uri + ">\r\n")
	b.WriteString("Call-ID: " + randHex(12) + "-ds@" + sock.Addr.Addr().String() + "\r\n")
	b.WriteString("CSeq: 10 " + method + "\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	if ua := p.d.core.UserAgentHeader(); ua != "" {
		b.WriteString(ua + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// onReply is the core.ReplyHandler: it consumes the replies to keepalives
// (and only those) and settles a keepalive on its final reply.
func (p *pinger) onReply(m *msg.Msg) bool {
	v := m.TopVia()
	if v == nil {
		return false
	}
	br, _ := v.Params.Get("branch")
	if !strings.HasPrefix(br, pingBranchPrefix) {
		return false
	}
	if m.Status() >= 200 {
		p.complete(br, m.Status(), m.Res.Reason, true)
	}
	return true
}

// complete settles the keepalive with branch, once.
func (p *pinger) complete(branch string, code int, reason string, received bool) {
	var rtt time.Duration
	p.mu.Lock()
	pg := p.pending[branch]
	if pg != nil {
		delete(p.pending, branch)
		delete(p.inflight, pg.key)
		if pg.timer != nil {
			pg.timer.Stop()
		}
		if !pg.sent.IsZero() {
			rtt = time.Since(pg.sent)
		}
	}
	p.mu.Unlock()
	if pg == nil || p.d.stopped() {
		return
	}
	p.d.pingResult(pg.key, code, reason, received, rtt)
}

// stopAll drops the keepalives in flight (shutdown).
func (p *pinger) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for b, pg := range p.pending {
		if pg.timer != nil {
			pg.timer.Stop()
		}
		delete(p.pending, b)
		delete(p.inflight, pg.key)
	}
}

// pingResult applies the outcome of a keepalive to the destination's
// state, as Kamailio's keepalive callback: a 2xx (or a ds_ping_reply_codes
// reply) is a success, anything else (408 on timeout) a failure.
func (d *Dispatcher) pingResult(key destKey, code int, reason string, received bool, rtt time.Duration) {
	s, dd := d.tab.Load().find(key.setid, key.uri)
	if dd == nil {
		return // removed meanwhile
	}
	ok := d.cfg.pingOK(code)
	if !ok {
		d.st.pingsFailed.Inc()
	}
	rc := rctx{code: code, reason: reason, setid: key.setid, uri: key.uri}
	if received {
		rc.flags = 1
	}
	s.mu.Lock()
	st := dd.state.Load()
	if d.cfg.latencyStats && st&flagProbing != 0 {
		d.updateLatency(s, dd, code, rtt)
	}
	if d.cfg.probingMode == probeOnlyFlagged && st&flagProbing == 0 || st&flagDisabled != 0 {
		// Probing was switched off, or the destination disabled, meanwhile.
		s.mu.Unlock()
		return
	}
	var ns int
	if ok {
		if d.cfg.probingMode == probeAll || d.cfg.probingMode == probeOnlyFlagged && st&flagProbing != 0 {
			ns = flagProbing
		}
	} else {
		ns = flagTrying
		if d.cfg.probingMode != probeFlagged {
			ns |= flagProbing
		}
	}
	ev := d.updateState(s, dd, ns, fromPing, rc)
	s.mu.Unlock()
	if ev != nil {
		d.log.Info("dispatcher: destination "+strings.TrimPrefix(ev.name, "dispatcher:"), zap.Int("set", key.setid),
			zap.String("uri", key.uri), zap.Int("code", code), zap.String("state", stateLetters(dd.state.Load()|uint32(dd.flags&flagNoPing))))
		d.runEvent(nil, ev)
	}
}

// updateLatency records a keepalive round trip (a 408 counts as a
// timeout) and, for destinations with cc=1 and a weight, lowers their
// relative weight by the congestion in milliseconds. s.mu is held.
func (d *Dispatcher) updateLatency(s *set, dd *dest, code int, rtt time.Duration) {
	if code == 408 {
		dd.lat.timeouts++
	} else if rtt > 0 {
		dd.lat.add(int(rtt/time.Millisecond), d.cfg.alpha)
	}
	if dd.attrs.cc == 0 || dd.attrs.weight <= 0 {
		return
	}
	rw := dd.attrs.weight - dd.lat.congestion()
	if rw < 0 {
		rw = 0
	}
	if rw != dd.rw {
		dd.rw = rw
		initRelWeights(s)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
