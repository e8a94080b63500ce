package usrloc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore keeps a location table in Redis so that several nodes share
// one location service:
//
//	<prefix><table>:rec:<aor>  string, the AoR's contacts as JSON, ordered;
//	                           TTL = the latest contact expiry + a grace period
//	<prefix><table>:idx        sorted set, AoR -> its earliest contact expiry
//
// A change reads and rewrites the AoR's key inside WATCH/MULTI, so saves of
// the same AoR on several nodes serialise without losing contacts. The
// expiry timer of every node takes the AoRs whose earliest expiry has
// passed from the index and removes their expired contacts in the same kind
// of transaction: the node whose transaction wins raises
// usrloc:contact-expired, once per contact across the cluster. The key's TTL
// outlives the last contact by the grace period so that a node still sees
// the contacts it has to raise the event for; readers never return an
// expired contact.
//
// Each node remembers the last contacts it read or wrote per AoR: while
// Redis does not answer, lookups use them (logged once), and changes fail
// (REGISTER gets 500) rather than diverge between nodes.
type redisStore struct {
	cl       *redis.Client
	recPfx   string
	idxKey   string
	timeout  time.Duration
	grace    time.Duration
	descTime bool
	rh       *health

	locks [64]sync.Mutex // serialises a node's own changes of one AoR

	mu     sync.Mutex
	mirror map[string][]Contact
}

// redisTries bounds the WATCH retries of one change under contention.
const redisTries = 16

// newRedisClient makes a client whose every call is bounded by timeout: one
// try, no retries, context deadlines honoured, so an outage costs a REGISTER
// at most the timeout.
func newRedisClient(url string, timeout time.Duration) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	return redis.NewClient(opt), nil
}

func newRedisStore(cl *redis.Client, prefix, table string, timeout, grace time.Duration, descTime bool, rh *health) *redisStore {
	return &redisStore{cl: cl, recPfx: prefix + table + ":rec:", idxKey: prefix + table + ":idx",
		timeout: timeout, grace: grace, descTime: descTime, rh: rh, mirror: map[string][]Contact{}}
}

func (s *redisStore) key(aor string) string { return s.recPfx + aor }

func (s *redisStore) lock(aor string) *sync.Mutex { return &s.locks[HashAOR(aor)%uint32(len(s.locks))] }

func (s *redisStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

func (s *redisStore) fail(err error) error {
	s.rh.fail(err)
	return fmt.Errorf("%w: %v", ErrBackend, err)
}

func (s *redisStore) remember(aor string, cs []Contact) {
	s.mu.Lock()
	if len(cs) == 0 {
		delete(s.mirror, aor)
	} else {
		s.mirror[aor] = clone(cs)
	}
	s.mu.Unlock()
}

func (s *redisStore) remembered(aor string) []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.mirror[aor])
}

// decode reads a stored record; the stored order is the lookup order.
func decode(aor string, b []byte) ([]Contact, error) {
	var cs []Contact
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("location record %q in Redis: %w", aor, err)
	}
	for i := range cs {
		cs[i].AOR = aor
		cs[i].seq = uint64(i + 1)
		cs[i].state = csSync
	}
	return cs, nil
}

func (s *redisStore) read(ctx context.Context, g redis.Cmdable, aor string) ([]Contact, error) {
	b, err := g.Get(ctx, s.key(aor)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decode(aor, b)
}

func (s *redisStore) get(ctx context.Context, aor string) ([]Contact, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cs, err := s.read(ctx, s.cl, aor)
	if err != nil {
		s.rh.fail(err)
		return s.remembered(aor), nil
	}
	s.rh.ok()
	s.remember(aor, cs)
	return cs, nil
}

// write queues the commands storing next as aor's record.
func (s *redisStore) write(ctx context.Context, p redis.Pipeliner, aor string, next []Contact) error {
	if len(next) == 0 {
		p.Del(ctx, s.key(aor))
		p.ZRem(ctx, s.idxKey, aor)
		return nil
	}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	var earliest, latest int64
	forever := false
	for _, c := range next {
		if c.Expires == 0 {
			forever = true
			continue
		}
		if earliest == 0 || c.Expires < earliest {
			earliest = c.Expires
		}
		latest = max(latest, c.Expires)
	}
	p.Set(ctx, s.key(aor), b, 0)
	if !forever {
		p.PExpireAt(ctx, s.key(aor), time.Unix(latest, 0).Add(s.grace))
	}
	if earliest > 0 {
		p.ZAdd(ctx, s.idxKey, redis.Z{Score: float64(earliest), Member: aor})
	} else {
		p.ZRem(ctx, s.idxKey, aor)
	}
	return nil
}

// fnError carries the update function's own error through the transaction.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// change runs f on aor's record in a WATCH transaction, retrying when
// another node changed the record meanwhile. f returns the record to write
// (nil deletes it) and whether anything changed.
func (s *redisStore) change(ctx context.Context, aor string, f func(old []Contact) ([]Contact, bool, error)) ([]Contact, error) {
	l := s.lock(aor)
	l.Lock()
	defer l.Unlock()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var result []Contact
	txf := func(tx *redis.Tx) error {
		old, err := s.read(ctx, tx, aor)
		if err != nil {
			return err
		}
		next, changed, err := f(old)
		if err != nil {
			return fnError{err}
		}
		result = next
		if !changed {
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return s.write(ctx, p, aor, next) })
		return err
	}
	var err error
	for i := 0; i < redisTries; i++ {
		if err = s.cl.Watch(ctx, txf, s.key(aor)); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	var fe fnError
	switch {
	case errors.As(err, &fe):
		return nil, fe.err
	case err != nil:
		return nil, s.fail(err)
	}
	s.rh.ok()
	s.remember(aor, result)
	return result, nil
}

func (s *redisStore) update(ctx context.Context, aor string, fn UpdateFunc) ([]Contact, error) {
	return s.change(ctx, aor, func(old []Contact) ([]Contact, bool, error) {
		now := unixNow()
		next, err := fn(validOnly(old, now))
		if err != nil {
			return nil, false, err
		}
		next = prepare(aor, old, next, now, s.descTime)
		ups, dels := diff(old, next)
		return next, len(ups)+len(dels) > 0, nil
	})
}

func (s *redisStore) remove(ctx context.Context, aor string) (bool, error) {
	existed := false
	_, err := s.change(ctx, aor, func(old []Contact) ([]Contact, bool, error) {
		existed = len(old) > 0
		return nil, true, nil
	})
	return existed, err
}

// globEscape quotes the pattern characters of a SCAN MATCH prefix.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *redisStore) walk(ctx context.Context, fn func(aor string, cs []Contact) bool) error {
	var cursor uint64
	for {
		cctx, cancel := s.ctx(ctx)
		keys, next, err := s.cl.Scan(cctx, cursor, globEscape(s.recPfx)+"*", 500).Result()
		if err == nil && len(keys) > 0 {
			var vals []any
			vals, err = s.cl.MGet(cctx, keys...).Result()
			for i, v := range vals {
				str, ok := v.(string)
				if !ok {
					continue // gone since the scan
				}
				aor := strings.TrimPrefix(keys[i], s.recPfx)
				cs, derr := decode(aor, []byte(str))
				if derr != nil {
					continue
				}
				if !fn(aor, cs) {
					cancel()
					return nil
				}
			}
		}
		cancel()
		if err != nil {
			return s.fail(err)
		}
		if cursor = next; cursor == 0 {
			s.rh.ok()
			return nil
		}
	}
}

// expireBatch bounds the AoRs one expiry pass takes from the index.
const expireBatch = 1000

func (s *redisStore) expire(ctx context.Context, now int64) ([]Contact, error) {
	cctx, cancel := s.ctx(ctx)
	aors, err := s.cl.ZRangeByScore(cctx, s.idxKey, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(now), Count: expireBatch}).Result()
	cancel()
	if err != nil {
		return nil, s.fail(err)
	}
	var out []Contact
	for _, aor := range aors {
		var gone []Contact
		_, err := s.change(ctx, aor, func(old []Contact) ([]Contact, bool, error) {
			gone = gone[:0]
			keep := make([]Contact, 0, len(old))
			for _, c := range old {
				if c.Valid(now) {
					keep = append(keep, c)
				} else {
					gone = append(gone, c)
				}
			}
			// Rewrite even when nothing expired: a stale index entry (the key
			// vanished by its TTL) is dropped, a wrong score corrected.
			return keep, true, nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, gone...)
	}
	return out, nil
}

// counts are what this node has seen (the mirror), not the whole cluster.
func (s *redisStore) counts() (int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, cs := range s.mirror {
		n += int64(len(cs))
	}
	return int64(len(s.mirror)), n
}

func (s *redisStore) flush(context.Context) error { return nil }
func (s *redisStore) slots() (int, int)           { return 0, 0 }
func (s *redisStore) close()                      {} // the module closes the shared client
