package htable

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis tables (redis=1) keep each item as one Redis string key
// "<redis_prefix><table>:<item name>" whose value is the type byte 'i' or
// 's' followed by the integer or the string, with the item's expire as the
// key's TTL. Every node pointed at the same Redis sees the same items.
//
// Each node also keeps a local copy of what it wrote and read (bounded by
// max_items). While Redis answers, Redis is the truth and the copy follows
// it; when a call fails or times out (redis_timeout_ms) the link is marked
// down and every operation uses the local copy at once, without waiting for
// Redis. The keys written while down are remembered; a background check
// pings Redis (every redisRetry, backing off to redisRetryMax) and, once it
// answers, pushes the local state of those keys (value and remaining TTL, or
// a delete) before Redis is used again: the node's writes made during the
// outage win over what other nodes wrote to the same keys meanwhile.

// A down link is pinged after redisRetry, then less and less often up to
// redisRetryMax while Redis stays away.
const (
	redisRetry    = 500 * time.Millisecond
	redisRetryMax = 5 * time.Second
)

// scanBatch is the SCAN COUNT hint and the unit of value fetches.
const scanBatch = 500

// link is the module's connection to Redis and its up/down state.
type link struct {
	cl      *redis.Client
	url     string
	timeout time.Duration
	log     *zap.Logger
	up      atomic.Bool
	mu      sync.Mutex // guards the pending state of every table and going up
	tables  []*redisStore
	stop    chan struct{}
	done    chan struct{}
}

// newLink makes a client whose every call is bounded by timeout: one try,
// no dial retries, context deadlines honoured.
func newLink(url string, timeout time.Duration, log *zap.Logger) (*link, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout = timeout
	opt.ReadTimeout = timeout
	opt.WriteTimeout = timeout
	opt.PoolTimeout = timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	return &link{cl: redis.NewClient(opt), url: url, timeout: timeout, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}, nil
}

func (l *link) isUp() bool { return l.up.Load() }

// markDown switches every Redis table to its local copy.
func (l *link) markDown(err error) {
	if l.up.CompareAndSwap(true, false) {
		l.log.Warn("redis unreachable: htable uses the local copies until it answers again",
			zap.String("redis", redactURL(l.url)), zap.Error(err))
	}
}

// start pings once (not fatal: a node must run while Redis is down) and
// runs the recovery loop.
func (l *link) start() {
	ctx, cancel := context.WithTimeout(context.Background(), 4*l.timeout+time.Second)
	err := l.cl.Ping(ctx).Err()
	cancel()
	if err == nil {
		l.up.Store(true)
	} else {
		l.log.Warn("redis unreachable at start: htable uses local copies until it answers",
			zap.String("redis", redactURL(l.url)), zap.Error(err))
	}
	go l.loop()
}

func (l *link) close() {
	select {
	case <-l.stop:
		return
	default:
		close(l.stop)
	}
	<-l.done
	_ = l.cl.Close()
}

func (l *link) loop() {
	defer close(l.done)
	wait := redisRetry
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if l.isUp() {
			wait = redisRetry
			t.Reset(wait)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout*4)
		err := l.cl.Ping(ctx).Err()
		cancel()
		if err == nil {
			err = l.resync()
			if err != nil {
				l.log.Warn("redis answers again but the resync failed; retrying", zap.Error(err))
			} else {
				l.log.Info("redis reachable again: htable items resynced", zap.String("redis", redactURL(l.url)))
			}
		}
		// Back off while Redis stays away (each failed dial is also logged
		// by go-redis), up to redisRetryMax.
		if err != nil {
			wait = min(2*wait, redisRetryMax)
		} else {
			wait = redisRetry
		}
		t.Reset(wait)
	}
}

// resync pushes what the tables changed while Redis was down, then marks
// the link up. Writes that happen meanwhile are pushed in the next round.
func (l *link) resync() error {
	for {
		l.mu.Lock()
		var work []pendingWork
		for _, r := range l.tables {
			if w, ok := r.takePending(); ok {
				work = append(work, w)
			}
		}
		if len(work) == 0 {
			l.up.Store(true)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		for _, w := range work {
			if err := w.store.push(w); err != nil {
				w.store.restorePending(w)
				return err
			}
		}
	}
}

// offline applies a write to the local copy while the link is down and
// remembers the key for the resync. It returns false, without applying, if
// the link came up meanwhile (the caller then writes to Redis).
func (l *link) offline(r *redisStore, key string, apply func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up.Load() {
		return false
	}
	apply()
	r.addPending(key)
	return true
}

// offlineReset is offline for a whole-table change (reset, pattern
// deletes): the resync empties the table in Redis before pushing.
func (l *link) offlineReset(r *redisStore, apply func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up.Load() {
		return false
	}
	apply()
	r.reset = true
	return true
}

type pendingWork struct {
	store    *redisStore
	keys     map[string]struct{}
	overflow bool
	reset    bool
}

func (r *redisStore) addPending(key string) {
	if r.overflow {
		return
	}
	if r.pending == nil {
		r.pending = map[string]struct{}{}
	}
	r.pending[key] = struct{}{}
	if len(r.pending) > r.max {
		r.pending, r.overflow = nil, true
	}
}

func (r *redisStore) takePending() (pendingWork, bool) {
	if len(r.pending) == 0 && !r.overflow && !r.reset {
		return pendingWork{}, false
	}
	w := pendingWork{store: r, keys: r.pending, overflow: r.overflow, reset: r.reset}
	r.pending, r.overflow, r.reset = nil, false, false
	return w, true
}

// restorePending puts back work that could not be pushed.
func (r *redisStore) restorePending(w pendingWork) {
	r.link.mu.Lock()
	defer r.link.mu.Unlock()
	r.reset = r.reset || w.reset
	r.overflow = r.overflow || w.overflow
	for k := range w.keys {
		r.addPending(k)
	}
}

// push writes the local state of the pending keys to Redis.
func (r *redisStore) push(w pendingWork) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.reset {
		var keys []string
		err := r.scan(ctx, "", func(name string, _ Value, _ int64) bool {
			keys = append(keys, name)
			return true
		})
		if err != nil {
			return err
		}
		if err := r.unlink(ctx, keys); err != nil {
			return err
		}
	}
	now := nowNano()
	pipe := r.link.cl.Pipeline()
	queued := 0
	flush := func() error {
		if queued == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		queued = 0
		return err
	}
	put := func(name string, e entry, ok bool) error {
		k := r.prefix + name
		switch {
		case !ok:
			pipe.Del(ctx, k)
		case e.expire == 0:
			pipe.Set(ctx, k, encode(e.val), 0)
		default:
			ttl := time.Duration(e.expire - now)
			if ttl <= 0 {
				pipe.Del(ctx, k)
			} else {
				pipe.Set(ctx, k, encode(e.val), ttl)
			}
		}
		queued++
		if queued >= scanBatch {
			return flush()
		}
		return nil
	}
	if w.overflow || w.reset {
		var err error
		r.local.walk(now, func(_ int, it Item) bool {
			err = put(it.Name, entry{val: it.Val, expire: it.Expire}, true)
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	for k := range w.keys {
		e, ok := r.local.get(k, now)
		if err := put(k, e, ok); err != nil {
			return err
		}
	}
	return flush()
}
