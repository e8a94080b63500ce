package topos

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisStore keeps the records in Redis so that every node pointed at the
// same server can continue a dialog another node set up. Dialogs are hashes
// "<prefix>[<ns>:]d:<id>", branches "<prefix>[<ns>:]b:<via branch>", with
// Kamailio's column names as fields and the record lifetime as the key TTL
// (so clean_interval has nothing to do here).
//
// Every call is bounded by redis_timeout_ms and tried once. A call that
// fails on the connection marks the store down: from then on every call
// fails at once (no waiting, no queue, no goroutine per message) until a
// background ping, backing off from 500 ms to 5 s, finds Redis again. The
// outage and the recovery are logged once each.
type redisStore struct {
	cl      *redis.Client
	prefix  string
	timeout time.Duration
	log     *zap.Logger
	addr    string
	up      atomic.Bool
	fails   atomic.Int32 // link failures in a row (call)
	stop    chan struct{}
	done    chan struct{}
	started bool
	once    sync.Once
}

const (
	redisRetry    = 500 * time.Millisecond
	redisRetryMax = 5 * time.Second
)

func newRedisStore(rawURL, prefix string, timeout time.Duration, log *zap.Logger) (*redisStore, error) {
	opt, err := redis.ParseURL(rawURL)
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
	s := &redisStore{cl: redis.NewClient(opt), prefix: prefix, timeout: timeout, log: log, addr: redactURL(rawURL),
		stop: make(chan struct{}), done: make(chan struct{})}
	return s, nil
}

// start pings once (a node runs while Redis is down: dialogs then fail with
// 500) and runs the recovery loop.
func (s *redisStore) start() {
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.timeout+time.Second)
	err := s.cl.Ping(ctx).Err()
	cancel()
	if err == nil {
		s.up.Store(true)
	} else {
		s.log.Warn("topos: redis unreachable at start: new dialogs fail (500) until it answers",
			zap.String("redis", s.addr), zap.Error(err))
	}
	s.started = true
	go s.loop()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "redis"
	}
	u.User = nil
	return u.String()
}

func (s *redisStore) loop() {
	defer close(s.done)
	wait := redisRetry
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if s.up.Load() {
			t.Reset(redisRetry)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*s.timeout)
		err := s.cl.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.fails.Store(0)
			s.up.Store(true)
			s.log.Info("topos: redis reachable again", zap.String("redis", s.addr))
			wait = redisRetry
		} else {
			wait = min(2*wait, redisRetryMax)
		}
		t.Reset(wait)
	}
}

// downAfter is how many link failures in a row mark the store down: one
// slow reply (a fork for a snapshot) is not an outage.
const downAfter = 3

// call runs f under the store's timeout, failing at once while down;
// downAfter connection errors or timeouts in a row mark the store down.
func (s *redisStore) call(ctx context.Context, f func(ctx context.Context) error) error {
	if !s.up.Load() {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := f(cctx)
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, ErrNotFound) {
		s.fails.Store(0)
		return err
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		s.fails.Store(0)
		return err // Redis answered with an error: the link is fine
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return ErrUnavailable // every connection busy: a burst, not an outage
	}
	if s.fails.Add(1) < downAfter {
		return ErrUnavailable
	}
	if s.up.CompareAndSwap(true, false) {
		s.log.Warn("topos: redis unreachable: new dialogs fail (500) and stored ones cannot be restored until it answers",
			zap.String("redis", s.addr), zap.Error(err))
	}
	return ErrUnavailable
}

func (s *redisStore) key(ns, kind, id string) string {
	if ns == "" {
		return s.prefix + kind + ":" + id
	}
	return s.prefix + ns + ":" + kind + ":" + id
}

// createScript stores dialog and branch unless the branch exists (then its
// dialog id comes back): one round trip.
var createScript = redis.NewScript(`
local existing = redis.call('HGET', KEYS[1], 'a_uuid')
if existing then return existing end
local nd = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], unpack(ARGV, 4, 3 + nd))
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4 + nd))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 'atpsh-' .. ARGV[2]
`)

// updateScript changes an existing dialog only.
var updateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if tonumber(ARGV[2]) > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`)

func (s *redisStore) CreateInitial(ctx context.Context, ns string, d *Dialog, b *Branch, ttl time.Duration) (string, error) {
	df, bf := d.fields(), b.fields()
	args := make([]any, 0, 3+len(df)+len(bf))
	args = append(args, ttl.Milliseconds(), d.ID, len(df))
	for _, f := range df {
		args = append(args, f)
	}
	for _, f := range bf {
		args = append(args, f)
	}
	var id string
	err := s.call(ctx, func(ctx context.Context) error {
		v, err := createScript.Run(ctx, s.cl, []string{s.key(ns, "b", b.Key), s.key(ns, "d", d.ID)}, args...).Text()
		id = v
		return err
	})
	if err != nil {
		return "", err
	}
	if len(id) < 7 {
		return "", errors.New("topos: bad dialog id in redis")
	}
	return id[6:], nil
}

func (s *redisStore) Dialog(ctx context.Context, ns, id string) (*Dialog, error) {
	var m map[string]string
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		m, err = s.cl.HGetAll(ctx, s.key(ns, "d", id)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	d := &Dialog{}
	for k, v := range m {
		d.set(k, v)
	}
	if !d.complete() {
		return nil, ErrNotFound
	}
	return d, nil
}

func (s *redisStore) Branch(ctx context.Context, ns, key string) (*Branch, error) {
	var m map[string]string
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		m, err = s.cl.HGetAll(ctx, s.key(ns, "b", key)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	b := &Branch{}
	for k, v := range m {
		b.set(k, v)
	}
	if !b.complete() {
		return nil, ErrNotFound
	}
	return b, nil
}

func (s *redisStore) PutBranch(ctx context.Context, ns string, b *Branch, ttl time.Duration, dialogID string, dialogTTL time.Duration) error {
	bf := b.fields()
	vals := make([]any, len(bf))
	for i, f := range bf {
		vals[i] = f
	}
	return s.call(ctx, func(ctx context.Context) error {
		k := s.key(ns, "b", b.Key)
		// MULTI/EXEC: a hash without its expiry would stay forever.
		_, err := s.cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, k, vals...)
			p.PExpire(ctx, k, ttl)
			if dialogTTL > 0 && dialogID != "" {
				p.PExpire(ctx, s.key(ns, "d", dialogID), dialogTTL) // no-op for a dialog that is gone
			}
			return nil
		})
		return err
	})
}

func (s *redisStore) UpdateDialog(ctx context.Context, ns, id string, fields map[string]string, ttl time.Duration, branchKey string, branchTTL time.Duration) error {
	args := make([]any, 0, 2+2*len(fields))
	args = append(args, ttl.Milliseconds(), branchTTL.Milliseconds())
	for k, v := range fields {
		args = append(args, k, v)
	}
	bk := s.key(ns, "b", branchKey)
	if branchKey == "" {
		bk = s.key(ns, "b", "-")
	}
	var n int64
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		n, err = updateScript.Run(ctx, s.cl, []string{s.key(ns, "d", id), bk}, args...).Int64()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// isUp reports whether Redis answered last time.
func (s *redisStore) isUp() bool { return s.up.Load() }

func (s *redisStore) Close() {
	s.once.Do(func() {
		close(s.stop)
		if s.started {
			<-s.done
		}
		_ = s.cl.Close()
	})
}
