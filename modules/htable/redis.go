package htable

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore is one table's view of Redis.
type redisStore struct {
	link   *link
	prefix string // "<redis_prefix><table>:"
	local  *memTable
	max    int

	// guarded by link.mu
	pending  map[string]struct{}
	overflow bool // more keys changed than max_items: push every local item
	reset    bool // the table was emptied (or pattern-deleted) while down
}

// encode and decode give Redis values their type byte.
func encode(v Value) string {
	if v.IsStr {
		return "s" + v.S
	}
	return "i" + strconv.FormatInt(v.I, 10)
}

func decode(s string) Value {
	if len(s) > 0 {
		switch s[0] {
		case 'i':
			if n, err := strconv.ParseInt(s[1:], 10, 64); err == nil {
				return Int(n)
			}
		case 's':
			return Str(s[1:])
		}
	}
	// Written by something else: keep the text as it is.
	return Str(s)
}

// get reads an item and its TTL in one round trip.
func (r *redisStore) get(ctx context.Context, name string) (v Value, ttl time.Duration, found bool, err error) {
	k := r.prefix + name
	pipe := r.link.cl.Pipeline()
	g := pipe.Get(ctx, k)
	p := pipe.PTTL(ctx, k)
	if _, err = pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Value{}, 0, false, err
	}
	s, gerr := g.Result()
	if errors.Is(gerr, redis.Nil) {
		return Value{}, 0, false, nil
	}
	if gerr != nil {
		return Value{}, 0, false, gerr
	}
	return decode(s), p.Val(), true, nil
}

// setScript stores a value. ARGV: encoded value, TTL in ms, mode: "x" sets
// that TTL (0 = none); "k" keeps the TTL of an existing key (updateexpire=0)
// and uses ARGV[2] only for a new one. It returns the key's PTTL (-1: none).
var setScript = redis.NewScript(`
local ttl = tonumber(ARGV[2])
if ARGV[3] == 'k' then
  local p = redis.call('PTTL', KEYS[1])
  if p == -1 or p > 0 then
    redis.call('SET', KEYS[1], ARGV[1])
    if p > 0 then redis.call('PEXPIRE', KEYS[1], p) end
    return p
  end
end
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  return ttl
end
redis.call('SET', KEYS[1], ARGV[1])
return -1
`)

func (r *redisStore) set(ctx context.Context, name string, v Value, ttl time.Duration, keep bool) (time.Duration, error) {
	mode := "x"
	if keep {
		mode = "k"
	}
	n, err := setScript.Run(ctx, r.link.cl, []string{r.prefix + name}, encode(v), ttl.Milliseconds(), mode).Int64()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return -1, nil
	}
	return time.Duration(n) * time.Millisecond, nil
}

// addScript adds ARGV[1] to an integer item. A missing item starts from
// ARGV[2] (the table's initval; "" = none: fail). ARGV[3] is the autoexpire
// TTL in ms, ARGV[4] "1" when an update restarts it. Returns {value, pttl},
// or nil when the item is missing without initval or holds a string.
var addScript = redis.NewScript(`
local ttl = tonumber(ARGV[3])
local v = redis.call('GET', KEYS[1])
local n
if not v then
  if ARGV[2] == '' then return false end
  n = tonumber(ARGV[2]) + tonumber(ARGV[1])
  local s = 'i' .. string.format('%d', n)
  if ttl > 0 then
    redis.call('SET', KEYS[1], s, 'PX', ttl)
    return {n, ttl}
  end
  redis.call('SET', KEYS[1], s)
  return {n, -1}
end
if string.sub(v, 1, 1) ~= 'i' then return false end
n = tonumber(string.sub(v, 2)) + tonumber(ARGV[1])
local s = 'i' .. string.format('%d', n)
if ARGV[4] == '1' and ttl > 0 then
  redis.call('SET', KEYS[1], s, 'PX', ttl)
  return {n, ttl}
end
local p = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[1], s)
if p > 0 then redis.call('PEXPIRE', KEYS[1], p) end
return {n, p}
`)

// add returns the new value and TTL; ok=false when the item cannot be
// incremented (missing without initval, or a string).
func (r *redisStore) add(ctx context.Context, name string, delta int64, init *int64, ttl time.Duration, update bool) (n int64, pttl time.Duration, ok bool, err error) {
	initArg := ""
	if init != nil {
		initArg = strconv.FormatInt(*init, 10)
	}
	upd := "0"
	if update {
		upd = "1"
	}
	res, err := addScript.Run(ctx, r.link.cl, []string{r.prefix + name}, delta, initArg, ttl.Milliseconds(), upd).Int64Slice()
	if errors.Is(err, redis.Nil) {
		return 0, 0, false, nil
	}
	if err != nil || len(res) != 2 {
		if err == nil {
			err = errors.New("unexpected reply to the increment script")
		}
		return 0, 0, false, err
	}
	if res[1] < 0 {
		return res[0], -1, true, nil
	}
	return res[0], time.Duration(res[1]) * time.Millisecond, true, nil
}

func (r *redisStore) del(ctx context.Context, name string) (bool, error) {
	n, err := r.link.cl.Del(ctx, r.prefix+name).Result()
	return n > 0, err
}

// expire sets the TTL of an existing key (0 = none).
func (r *redisStore) expire(ctx context.Context, name string, ttl time.Duration) error {
	if ttl > 0 {
		return r.link.cl.PExpire(ctx, r.prefix+name, ttl).Err()
	}
	return r.link.cl.Persist(ctx, r.prefix+name).Err()
}

func (r *redisStore) pttl(ctx context.Context, name string) (time.Duration, error) {
	return r.link.cl.PTTL(ctx, r.prefix+name).Result()
}

// scan calls f for every item of the table whose name starts with
// namePrefix, with its value and PTTL; f returns false to stop. SCAN may
// report a key twice while the table changes, as its contract says.
func (r *redisStore) scan(ctx context.Context, namePrefix string, f func(name string, v Value, pttl int64) bool) error {
	match := globEscape(r.prefix+namePrefix) + "*"
	var cursor uint64
	for {
		keys, next, err := r.link.cl.Scan(ctx, cursor, match, scanBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			pipe := r.link.cl.Pipeline()
			gets := make([]*redis.StringCmd, len(keys))
			ttls := make([]*redis.DurationCmd, len(keys))
			for i, k := range keys {
				gets[i] = pipe.Get(ctx, k)
				ttls[i] = pipe.PTTL(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			for i, k := range keys {
				s, err := gets[i].Result()
				if err != nil { // gone since SCAN saw it
					continue
				}
				if !f(strings.TrimPrefix(k, r.prefix), decode(s), int64(ttls[i].Val())) {
					return nil
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// unlink deletes items by name, in batches.
func (r *redisStore) unlink(ctx context.Context, names []string) error {
	for len(names) > 0 {
		n := min(len(names), scanBatch)
		keys := make([]string, n)
		for i := range keys {
			keys[i] = r.prefix + names[i]
		}
		if err := r.link.cl.Unlink(ctx, keys...).Err(); err != nil {
			return err
		}
		names = names[n:]
	}
	return nil
}

// globEscape quotes the SCAN MATCH metacharacters.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// redactURL drops credentials from a Redis URL for logs.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}
