package rtpengine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Errors of one exchange with an instance.
var (
	errTimeout   = errors.New("no reply")
	errRefused   = errors.New("connection refused (nothing listens there)")
	errMalformed = errors.New("malformed reply")
	errClosed    = errors.New("module stopped")
)

// transportCfg is what every node's exchanges share.
type transportCfg struct {
	tout    time.Duration // rtpengine_tout_ms: wait for a reply to one send
	retr    int           // rtpengine_retr: sends of one request
	laddr   string        // force_send_interface
	tos     int           // control_cmd_tos, -1 unset
	log     *zap.Logger
	onBadRx func() // a datagram that is not "cookie dict"
}

// node is one rtpengine instance: its control socket, the requests waiting
// for a reply (by cookie) and whether it may be used.
type node struct {
	def nodeDef
	idx int // position in its set, for rtpengine.show
	cfg *transportCfg

	mu        sync.Mutex
	disabled  bool
	permanent bool      // disabled by rtpengine.enable / the database
	recheckAt time.Time // a timed-out node is tried again from then on
	conn      *net.UDPConn
	pending   map[string]chan result

	weight atomic.Int64 // changes on reload
	prefix string
	seq    atomic.Uint64
}

// result is one reply (or why there is none).
type result struct {
	dict map[string]any
	err  error
}

func newNode(def nodeDef, idx int, cfg *transportCfg) *node {
	var b [6]byte
	_, _ = rand.Read(b[:])
	n := &node{def: def, idx: idx, cfg: cfg, pending: map[string]chan result{}, prefix: hex.EncodeToString(b[:])}
	n.weight.Store(int64(def.Weight))
	return n
}

// open resolves the address and starts the reader; a name that does not
// resolve is an error naming the URL.
func (n *node) open() error {
	raddr, err := net.ResolveUDPAddr(n.def.Network, n.def.Addr)
	if err != nil {
		return fmt.Errorf("rtpengine %s: %v", n.def.URL, err)
	}
	var laddr *net.UDPAddr
	if n.cfg.laddr != "" {
		ip := net.ParseIP(n.cfg.laddr)
		if ip == nil {
			return fmt.Errorf("force_send_interface %q is not an IP address", n.cfg.laddr)
		}
		laddr = &net.UDPAddr{IP: ip}
	}
	c, err := net.DialUDP(n.def.Network, laddr, raddr)
	if err != nil {
		return fmt.Errorf("rtpengine %s: %v", n.def.URL, err)
	}
	if n.cfg.tos >= 0 && n.cfg.tos <= 255 {
		if rc, err := c.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if raddr.IP.To4() != nil {
					_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, n.cfg.tos)
				} else {
					_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, n.cfg.tos)
				}
			})
		}
	}
	n.mu.Lock()
	n.conn = c
	n.mu.Unlock()
	go n.read(c)
	return nil
}

func (n *node) close() {
	n.mu.Lock()
	c := n.conn
	n.conn = nil
	for k, ch := range n.pending {
		ch <- result{err: errClosed}
		delete(n.pending, k)
	}
	n.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// read delivers replies to the requests waiting for them. A refused send
// (ICMP port unreachable) fails every pending request at once: nothing
// listens at that address, waiting for the timeout would only delay the
// failover.
func (n *node) read(c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		k, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				n.failPending(errRefused)
				continue
			}
			n.cfg.log.Debug("rtpengine read", zap.String("url", n.def.URL), zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n.deliver(buf[:k])
	}
}

func (n *node) failPending(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, ch := range n.pending {
		select {
		case ch <- result{err: err}:
		default:
		}
		delete(n.pending, k)
	}
}

// deliver parses "cookie SP bencoded-dictionary" and hands it to the
// request with that cookie; replies to requests nobody waits for any more
// (a retransmission's second answer) are dropped.
func (n *node) deliver(data []byte) {
	sp := -1
	for i, c := range data {
		if c == ' ' {
			sp = i
			break
		}
	}
	if sp <= 0 {
		n.cfg.onBadRx()
		n.cfg.log.Warn("rtpengine reply without cookie dropped", zap.String("url", n.def.URL), zap.Int("bytes", len(data)))
		return
	}
	cookie := string(data[:sp])
	n.mu.Lock()
	ch := n.pending[cookie]
	delete(n.pending, cookie)
	n.mu.Unlock()
	if ch == nil {
		return
	}
	v, err := decode(data[sp+1:])
	d, isDict := v.(map[string]any)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %v", errMalformed, err)
	case !isDict:
		err = fmt.Errorf("%w: not a dictionary", errMalformed)
	default:
		if _, ok := d["result"].(string); !ok {
			err = fmt.Errorf("%w: no result string", errMalformed)
		}
	}
	if err != nil {
		n.cfg.onBadRx()
	}
	ch <- result{dict: d, err: err}
}

// request sends one command and waits for its reply: rtpengine_retr sends,
// rtpengine_tout_ms each, all bounded by ctx (the script's deadline).
func (n *node) request(ctx context.Context, cmd map[string]any) (map[string]any, error) {
	return n.requestTries(ctx, cmd, n.cfg.retr)
}

// requestTries is request with its own number of sends.
func (n *node) requestTries(ctx context.Context, cmd map[string]any, tries int) (map[string]any, error) {
	body, err := encode(nil, cmd)
	if err != nil {
		return nil, err
	}
	cookie := n.prefix + "_" + strconv.FormatUint(n.seq.Add(1), 10)
	data := make([]byte, 0, len(cookie)+1+len(body))
	data = append(append(append(data, cookie...), ' '), body...)
	ch := make(chan result, 1)
	n.mu.Lock()
	c := n.conn
	if c == nil {
		n.mu.Unlock()
		return nil, errClosed
	}
	n.pending[cookie] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.pending, cookie)
		n.mu.Unlock()
	}()
	tries = max(tries, 1)
	t := time.NewTimer(n.cfg.tout)
	defer t.Stop()
	for i := 0; i < tries; i++ {
		if _, err := c.Write(data); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil, errRefused
			}
			return nil, err
		}
		if i > 0 {
			t.Reset(n.cfg.tout)
		}
		select {
		case r := <-ch:
			return r.dict, r.err
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("script deadline: %w", ctx.Err())
		}
	}
	return nil, errTimeout
}

// usable reports whether the node may take a request now; a node disabled
// by a timeout becomes usable again (to be tested) once its recheck time
// has come.
func (n *node) usable(now time.Time) (ok, retest bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.disabled {
		return true, false
	}
	if n.permanent {
		return false, false
	}
	return !now.Before(n.recheckAt), !now.Before(n.recheckAt)
}

// disable marks the node unusable for d (rtpengine_disable_tout).
func (n *node) disable(d time.Duration) {
	n.mu.Lock()
	if !n.permanent {
		n.disabled = true
		n.recheckAt = time.Now().Add(d)
	}
	n.mu.Unlock()
}

// enable clears a disabled state (permanent ones too).
func (n *node) enable() {
	n.mu.Lock()
	n.disabled, n.permanent = false, false
	n.recheckAt = time.Time{}
	n.mu.Unlock()
}

// disablePermanent is rtpengine.enable URL 0.
func (n *node) disablePermanent() {
	n.mu.Lock()
	n.disabled, n.permanent = true, true
	n.mu.Unlock()
}

// state returns disabled, permanent and seconds until recheck.
func (n *node) state() (bool, bool, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	left := 0
	if n.disabled && !n.permanent {
		if d := time.Until(n.recheckAt); d > 0 {
			left = int((d + time.Second - 1) / time.Second)
		}
	}
	return n.disabled, n.permanent, left
}

// ping sends the ng "ping" command (tries sends): nil when the instance
// answers "pong".
func (n *node) ping(ctx context.Context, tries int) error {
	d, err := n.requestTries(ctx, map[string]any{"command": "ping"}, tries)
	if err != nil {
		return err
	}
	if r, _ := d["result"].(string); r != "pong" {
		return fmt.Errorf("ping answered %q", r)
	}
	return nil
}
