package nathelper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/kemi"
)

// PingTarget is one registered contact to keep alive, as usrloc gives it.
type PingTarget struct {
	AOR      string // address of record, for logs
	Contact  string // the contact URI as registered (the R-URI of a SIP ping)
	Received string // "sip:ip:port[;transport=x]" the REGISTER came from, "" if not behind a NAT
	Path     string // Path header value saved with the contact, "" if none
	Socket   string // local socket it registered through ("udp:ip:port"), "" if unknown
	CFlags   uint32 // branch flags saved with the contact (sipping_bflag, natping_disable_bflag)
	Ruid     string // usrloc record id: names the contact in KeepaliveSink calls
}

// ContactSource is what nathelper needs from usrloc to send keepalives.
// The usrloc module instance implements it; nathelper finds it at start-up
// with Engine.Instance("usrloc").
type ContactSource interface {
	// KeepaliveContacts returns the contacts to ping now: every valid
	// contact, or with natOnly (ping_nated_only=1) only those saved with
	// usrloc's nat_bflag. It is called once per natping_interval from one
	// goroutine; ctx bounds backend calls.
	KeepaliveContacts(ctx context.Context, natOnly bool) ([]PingTarget, error)
}

// KeepaliveSink is implemented by a usrloc that records keepalive replies
// and removes contacts that stopped answering (keepalive_timeout > 0 needs it).
type KeepaliveSink interface {
	// KeepaliveReply: contact ruid answered a SIP keepalive after rtt.
	KeepaliveReply(ruid string, rtt time.Duration)
	// KeepaliveExpired: contact ruid did not answer SIP keepalives for
	// keepalive_timeout; usrloc removes it as if it had expired.
	KeepaliveExpired(ruid string)
}

// pingConfig holds the keepalive modparams.
type pingConfig struct {
	interval     time.Duration
	natOnly      bool
	forceSocket  string
	sipBflag     int // -1: none
	sipFrom      string
	method       string
	disableBflag int // -1: none
	timeout      time.Duration
}

func readPingConfig(p kemi.Params) (pingConfig, error) {
	c := pingConfig{
		interval:     time.Duration(p.Int("natping_interval")) * time.Second,
		natOnly:      p.Bool("ping_nated_only"),
		forceSocket:  strings.TrimSpace(p.Str("force_socket")),
		sipBflag:     p.Int("sipping_bflag"),
		sipFrom:      strings.TrimSpace(p.Str("sipping_from")),
		method:       strings.TrimSpace(p.Str("sipping_method")),
		disableBflag: p.Int("natping_disable_bflag"),
		timeout:      time.Duration(p.Int("keepalive_timeout")) * time.Second,
	}
	switch {
	case c.interval < 0:
		return c, errors.New("natping_interval must not be negative")
	case c.timeout < 0:
		return c, errors.New("keepalive_timeout must not be negative")
	case c.sipBflag < -1 || c.sipBflag > 31:
		return c, fmt.Errorf("sipping_bflag %d: want -1 or a flag 0-31", c.sipBflag)
	case c.disableBflag < -1 || c.disableBflag > 31:
		return c, fmt.Errorf("natping_disable_bflag %d: want -1 or a flag 0-31", c.disableBflag)
	case !msg.IsToken(c.method):
		return c, fmt.Errorf("sipping_method %q is not a SIP method", c.method)
	}
	// As Kamailio: SIP pinging asked for without a From is a config error.
	if c.interval > 0 && c.sipBflag >= 0 && c.sipFrom == "" {
		return c, errors.New("sipping_bflag is set but sipping_from is empty")
	}
	if c.sipFrom != "" {
		if _, ok := parseSIPURI(c.sipFrom); !ok {
			return c, fmt.Errorf("sipping_from %q is not a sip: URI", c.sipFrom)
		}
	}
	return c, nil
}

// sipping reports whether contacts with sipping_bflag get SIP requests.
func (c *pingConfig) sipping() bool { return c.sipBflag >= 0 && c.sipFrom != "" }

// branchPrefix marks the Via branch of our SIP keepalives: the reply
// handler takes every reply carrying it.
const branchPrefix = "z9hG4bKnhp."

// inflight is a SIP keepalive waiting for its reply.
type inflight struct {
	ruid string
	sent time.Time
}

// pinger sends the keepalives: every natping_interval it asks usrloc for
// the contacts and sends to them, spread over the interval one second at a
// time, as Kamailio's timer does.
type pinger struct {
	x     *nathelper
	cfg   pingConfig
	log   *zap.Logger
	src   ContactSource
	sink  KeepaliveSink
	force *msg.Socket
	quit  chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	inflight map[string]inflight  // Via branch -> ping
	lastSeen map[string]time.Time // ruid -> last reply (or first ping)
	stopOnce sync.Once
	started  bool
}

func newPinger(x *nathelper) *pinger {
	return &pinger{x: x, cfg: x.ping, log: x.log, quit: make(chan struct{}), done: make(chan struct{}),
		inflight: map[string]inflight{}, lastSeen: map[string]time.Time{}}
}

// usrlocModule is the module whose instance provides the contacts.
const usrlocModule = "usrloc"

func (p *pinger) start() error {
	eng := p.x.env.Engine
	var inst kemi.Instance
	if eng != nil {
		inst = eng.Instance(usrlocModule)
	}
	if inst == nil {
		return errors.New("natping_interval needs the usrloc module (add it to modules:)")
	}
	src, ok := inst.(ContactSource)
	if !ok {
		return errors.New("natping_interval: this usrloc cannot list contacts for keepalives")
	}
	p.src = src
	if p.cfg.timeout > 0 {
		sink, ok := inst.(KeepaliveSink)
		if !ok {
			return errors.New("keepalive_timeout: this usrloc cannot remove contacts that stop answering keepalives")
		}
		p.sink = sink
	} else if sink, ok := inst.(KeepaliveSink); ok {
		p.sink = sink // replies are still reported
	}
	if p.cfg.forceSocket != "" {
		s, err := findSocket(p.x.env.Core.TP.Sockets, p.cfg.forceSocket)
		if err != nil {
			return fmt.Errorf("force_socket: %w", err)
		}
		p.force = s
	}
	p.started = true
	go p.run()
	return nil
}

func (p *pinger) stop() {
	p.stopOnce.Do(func() { close(p.quit) })
	if !p.started {
		return
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// findSocket matches a force_socket value ("proto:ip:port" or "ip:port",
// UDP preferred) to a listening socket.
func findSocket(socks []*msg.Socket, spec string) (*msg.Socket, error) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	var fallback *msg.Socket
	for _, s := range socks {
		if strings.EqualFold(s.Name, spec) {
			return s, nil
		}
		if s.Addr.String() == spec {
			if s.Proto == msg.UDP {
				return s, nil
			}
			if fallback == nil {
				fallback = s
			}
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, fmt.Errorf("%q is not one of the listen sockets", spec)
}

// tick is the pace of the sending loop: one slice of the contacts per tick.
const tick = time.Second

func (p *pinger) run() {
	defer close(p.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	slots := int(p.cfg.interval / tick)
	if slots < 1 {
		slots = 1
	}
	var round []PingTarget
	slot, next := 0, 0
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
		if !p.x.enabled.Load() {
			slot, next, round = 0, 0, nil
			continue
		}
		if slot == 0 {
			round, next = p.collect(), 0
		}
		for end := len(round) * (slot + 1) / slots; next < end; next++ {
			select {
			case <-p.quit:
				return
			default:
			}
			p.send(round[next])
		}
		slot = (slot + 1) % slots
	}
}

// collect fetches this round's contacts, drops those that may not be
// pinged, and reports the ones that stopped answering.
func (p *pinger) collect() []PingTarget {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	list, err := p.src.KeepaliveContacts(ctx, p.cfg.natOnly)
	cancel()
	if err != nil {
		p.log.Error("cannot list contacts for NAT keepalives", zap.Error(err))
		return nil
	}
	now := time.Now()
	out := list[:0:0]
	var expired []string
	p.mu.Lock()
	seen := make(map[string]bool, len(list))
	for _, t := range list {
		if p.cfg.disableBflag >= 0 && t.CFlags&(1<<uint(p.cfg.disableBflag)) != 0 {
			continue
		}
		if p.cfg.timeout > 0 && p.isSIP(t) && t.Ruid != "" {
			seen[t.Ruid] = true
			last, ok := p.lastSeen[t.Ruid]
			if !ok {
				p.lastSeen[t.Ruid] = now
			} else if now.Sub(last) > p.cfg.timeout {
				delete(p.lastSeen, t.Ruid)
				expired = append(expired, t.Ruid)
				continue
			}
		}
		out = append(out, t)
	}
	for ruid := range p.lastSeen {
		if !seen[ruid] {
			delete(p.lastSeen, ruid)
		}
	}
	// A reply later than two rounds is not coming.
	for br, in := range p.inflight {
		if now.Sub(in.sent) > 2*p.cfg.interval+32*time.Second {
			delete(p.inflight, br)
		}
	}
	p.mu.Unlock()
	for _, ruid := range expired {
		p.x.st.expired.Inc()
		p.log.Info("contact stopped answering NAT keepalives", zap.String("ruid", ruid),
			zap.Duration("keepalive_timeout", p.cfg.timeout))
		p.sink.KeepaliveExpired(ruid)
	}
	return out
}

func (p *pinger) isSIP(t PingTarget) bool {
	return p.cfg.sipping() && t.CFlags&(1<<uint(p.cfg.sipBflag)) != 0
}

// send pings one contact: a SIP request when it carries sipping_bflag,
// else 4 zero bytes. As in Kamailio only UDP contacts are pinged (a stream
// connection has keepalives of its own). A failure is logged at debug
// level: one unreachable contact per round is routine.
func (p *pinger) send(t PingTarget) {
	sipPing := p.isSIP(t)
	dst, route, err := pingDestination(t, sipPing)
	if err != nil {
		p.log.Debug("NAT keepalive not sent", zap.String("aor", t.AOR), zap.Error(err))
		return
	}
	c := p.x.env.Core
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tg, err := c.Resolve(ctx, dst)
	if err != nil {
		p.log.Debug("NAT keepalive not sent", zap.String("aor", t.AOR), zap.Error(err))
		return
	}
	if tg.Proto != msg.UDP {
		return
	}
	sock := p.force
	if sock == nil && t.Socket != "" {
		if s, err := findSocket(c.TP.Sockets, t.Socket); err == nil && s.Proto == msg.UDP {
			sock = s
		}
	}
	if sock == nil {
		sock = c.TP.PickSocket(msg.UDP, tg.Addr.Addr(), nil)
	}
	if sock == nil {
		p.log.Debug("NAT keepalive not sent: no UDP socket", zap.String("aor", t.AOR))
		return
	}
	data := []byte{0, 0, 0, 0}
	if sipPing {
		branch := branchPrefix + randHex(8)
		data, err = buildPing(pingRequest{method: p.cfg.method, ruri: t.Contact, from: p.cfg.sipFrom, route: route,
			via:    "SIP/2.0/UDP " + sock.HostPort() + ";branch=" + branch + ";rport",
			callID: randHex(12) + "@" + strings.Trim(sock.HostPort(), "[]"), tag: randHex(6), userAgent: c.UserAgentHeader()})
		if err != nil {
			p.log.Debug("NAT keepalive not sent", zap.String("aor", t.AOR), zap.Error(err))
			return
		}
		p.mu.Lock()
		p.inflight[branch] = inflight{ruid: t.Ruid, sent: time.Now()}
		p.mu.Unlock()
	}
	if _, err := c.TP.Send(msg.UDP, tg.Addr, data, transport.SendOpts{From: sock, Ctx: ctx}); err != nil {
		p.log.Debug("NAT keepalive not sent", zap.String("aor", t.AOR), zap.String("dst", tg.Addr.String()), zap.Error(err))
		return
	}
	p.x.st.pings.Inc()
	if sipPing {
		p.x.st.sipPings.Inc()
	}
}

// pingDestination is where a keepalive goes: for a SIP ping the first Path
// hop (the ping then carries the Path as Route), else the received address,
// else the contact itself.
func pingDestination(t PingTarget, sip bool) (dst, route string, err error) {
	if t.Path != "" && sip {
		if msg.CheckValue(t.Path) != nil {
			return "", "", errors.New("bad Path")
		}
		first := msg.SplitComma(t.Path)[0]
		ce, ok := parseContactElem(first)
		if !ok {
			return "", "", errors.New("bad Path")
		}
		u, ok := parseSIPURI(ce.uri())
		if !ok {
			return "", "", errors.New("bad Path URI")
		}
		return u.String(), t.Path, nil
	}
	if t.Received != "" {
		u, ok := parseSIPURI(t.Received)
		if !ok {
			return "", "", errors.New("bad received URI")
		}
		return u.String(), "", nil
	}
	u, ok := parseSIPURI(t.Contact)
	if !ok {
		return "", "", errors.New("contact is not a sip: URI")
	}
	return u.String(), "", nil
}

// onReply absorbs replies to our SIP keepalives (a core.ReplyHandler):
// they answer a request nobody else sent, so nothing relays them.
func (p *pinger) onReply(m *msg.Msg) bool {
	v := m.TopVia()
	if v == nil {
		return false
	}
	br, _ := v.Params.Get("branch")
	if !strings.HasPrefix(br, branchPrefix) {
		return false
	}
	now := time.Now()
	p.mu.Lock()
	in, ok := p.inflight[br]
	if ok {
		delete(p.inflight, br)
		if _, tracked := p.lastSeen[in.ruid]; tracked {
			p.lastSeen[in.ruid] = now
		}
	}
	p.mu.Unlock()
	if !ok {
		return true // a late or repeated reply: still ours
	}
	p.x.st.replies.Inc()
	if p.sink != nil && in.ruid != "" {
		p.sink.KeepaliveReply(in.ruid, now.Sub(in.sent))
	}
	return true
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
