package rtpengine

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"go.uber.org/zap"
)

// pool is every configured instance by set, the failover policy, and the
// call-id → instance table that keeps one call on one instance.
type pool struct {
	mu    sync.RWMutex
	sets  map[int][]*node
	nodes []*node // every node, in configuration order

	disableTout  time.Duration // rtpengine_disable_tout
	aggressive   bool          // aggressive_redetection
	queriedLimit int           // queried_nodes_limit (0: the whole set)
	allowOp      int           // rtpengine_allow_op
	hashAlgo     int
	stickyTout   time.Duration // hash_table_tout
	log          *zap.Logger

	stickyMu sync.Mutex
	sticky   map[string]stickyEntry
}

type stickyEntry struct {
	n       *node
	expires time.Time
}

// maxQueried is Kamailio's hard limit of queried_nodes_limit.
const maxQueried = 30

// errNoInstance: every instance of the set is disabled or was tried.
var errNoInstance = errors.New("no rtpengine instance available")

// setNodes returns the nodes of a set.
func (p *pool) setNodes(set int) []*node {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.sets[set]
}

// hasSet reports whether a set exists.
func (p *pool) hasSet(set int) bool { return len(p.setNodes(set)) > 0 }

// call sends cmd to an instance of set chosen for callid: the one that
// already holds the call, else one picked by weight; an instance that does
// not answer is disabled for rtpengine_disable_tout and the next one is
// tried, up to queried_nodes_limit instances.
func (p *pool) call(ctx context.Context, set int, callid string, cmd map[string]any) (map[string]any, *node, error) {
	nodes := p.setNodes(set)
	if len(nodes) == 0 {
		return nil, nil, fmt.Errorf("no rtpengine set %d", set)
	}
	limit := p.queriedLimit
	if limit <= 0 || limit > len(nodes) {
		limit = len(nodes)
	}
	limit = min(limit, maxQueried)
	queried := make(map[*node]bool, limit)
	var lastErr error
	for len(queried) < limit {
		n := p.pick(ctx, nodes, callid, queried)
		if n == nil {
			break
		}
		queried[n] = true
		d, err := n.request(ctx, cmd)
		if err == nil {
			return d, n, nil
		}
		lastErr = fmt.Errorf("%s: %w", n.def.URL, err)
		if ctx.Err() != nil {
			return nil, nil, lastErr
		}
		if errors.Is(err, errTimeout) || errors.Is(err, errRefused) {
			n.disable(p.disableTout)
			p.log.Warn("rtpengine instance not answering: disabled", zap.String("url", n.def.URL),
				zap.Int("set", set), zap.Duration("for", p.disableTout), zap.Error(err))
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w in set %d", errNoInstance, set)
	}
	return nil, nil, lastErr
}

// pick chooses the next instance to try, or nil.
func (p *pool) pick(ctx context.Context, nodes []*node, callid string, queried map[*node]bool) *node {
	if n := p.stickyNode(callid); n != nil && !queried[n] && inSet(nodes, n) {
		ok, retest := n.usable(time.Now())
		if ok && (!retest || p.retest(ctx, n)) {
			return n
		}
		disabled, permanent, _ := n.state()
		if disabled && (p.allowOp == 1 || p.allowOp == 2 && permanent) {
			return n // finish existing calls on a drained instance
		}
	}
	if n := p.pickNew(ctx, nodes, callid, queried); n != nil {
		return n
	}
	if !p.aggressive {
		return nil
	}
	// Every instance is down: test them all now rather than wait out
	// rtpengine_disable_tout.
	revived := false
	for _, n := range nodes {
		if queried[n] {
			continue
		}
		if disabled, permanent, _ := n.state(); disabled && !permanent {
			if n.ping(ctx, 1) == nil {
				n.enable()
				revived = true
			}
		}
	}
	if !revived {
		return nil
	}
	return p.pickNew(ctx, nodes, callid, queried)
}

// retest pings a node whose disable time is over; it is enabled again if
// it answers, disabled for another period if not.
func (p *pool) retest(ctx context.Context, n *node) bool {
	if err := n.ping(ctx, 1); err != nil {
		if ctx.Err() == nil {
			n.disable(p.disableTout)
		}
		return false
	}
	n.enable()
	p.log.Info("rtpengine instance answers again: enabled", zap.String("url", n.def.URL))
	return true
}

// pickNew chooses by weight among the usable, not yet queried nodes: the
// call-id hash decides where in the weight range the call falls, so a call
// lands on the same instance as long as the set does not change.
func (p *pool) pickNew(ctx context.Context, nodes []*node, callid string, queried map[*node]bool) *node {
	now := time.Now()
	var cand []*node
	var weights []int
	total := 0
	for _, n := range nodes {
		w := int(n.weight.Load())
		if queried[n] || w == 0 {
			continue
		}
		ok, retest := n.usable(now)
		if !ok || retest && !p.retest(ctx, n) {
			continue
		}
		cand = append(cand, n)
		weights = append(weights, w)
		total += w
	}
	if total == 0 {
		return nil
	}
	cut := int(p.hash(callid) % uint32(total))
	for i, n := range cand {
		if cut < weights[i] {
			return n
		}
		cut -= weights[i]
	}
	return cand[len(cand)-1]
}

// hash is hash_algo over the call-id: 0 a plain multiplicative hash, 1 SHA-1,
// 2 CRC32.
func (p *pool) hash(callid string) uint32 {
	switch p.hashAlgo {
	case 1:
		s := sha1.Sum([]byte(callid))
		return binary.BigEndian.Uint32(s[:4])
	case 2:
		return crc32.ChecksumIEEE([]byte(callid))
	}
	var h uint32
	for i := 0; i < len(callid); i++ {
		h = h*31 + uint32(callid[i])
	}
	return h
}

func inSet(nodes []*node, n *node) bool {
	for _, o := range nodes {
		if o == n {
			return true
		}
	}
	return false
}

// remember binds callid to n for hash_table_tout.
func (p *pool) remember(callid string, n *node) {
	if callid == "" {
		return
	}
	p.stickyMu.Lock()
	p.sticky[callid] = stickyEntry{n: n, expires: time.Now().Add(p.stickyTout)}
	p.stickyMu.Unlock()
}

// forget drops the binding of a deleted call.
func (p *pool) forget(callid string) {
	p.stickyMu.Lock()
	delete(p.sticky, callid)
	p.stickyMu.Unlock()
}

func (p *pool) stickyNode(callid string) *node {
	p.stickyMu.Lock()
	defer p.stickyMu.Unlock()
	e, ok := p.sticky[callid]
	if !ok {
		return nil
	}
	if time.Now().After(e.expires) {
		delete(p.sticky, callid)
		return nil
	}
	return e.n
}

// expire removes bindings older than hash_table_tout.
func (p *pool) expire(now time.Time) {
	p.stickyMu.Lock()
	for k, e := range p.sticky {
		if now.After(e.expires) {
			delete(p.sticky, k)
		}
	}
	p.stickyMu.Unlock()
}

// stickyCount is rtpengine.get_hash_total.
func (p *pool) stickyCount() int {
	p.stickyMu.Lock()
	defer p.stickyMu.Unlock()
	return len(p.sticky)
}

// byURL returns the nodes configured with this URL ("all": every node).
func (p *pool) byURL(url string) []*node {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if url == "all" {
		return append([]*node(nil), p.nodes...)
	}
	var out []*node
	for _, n := range p.nodes {
		if n.def.URL == url {
			out = append(out, n)
		}
	}
	return out
}
