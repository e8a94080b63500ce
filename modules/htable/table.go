package htable

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/stats"
)

// Table is one hash table: its definition, the embedded storage and, for a
// Redis table, the Redis store that the embedded one mirrors. Every method
// falls back to the embedded storage when Redis does not answer in time,
// so no operation waits on a Redis outage for more than one timeout.
type Table struct {
	Def *Def
	mem *memTable
	red *redisStore // nil: memory table

	log        *zap.Logger
	refused    *stats.Counter
	lastFull   atomic.Int64 // unix seconds of the last "full" log line
	lastReload atomic.Int64 // unix nanoseconds of the last load from the database
	lease      time.Duration
}

func newTable(d *Def, maxItems int, log *zap.Logger, lease time.Duration) *Table {
	if d.MaxItems > 0 {
		maxItems = d.MaxItems
	}
	return &Table{Def: d, mem: newMemTable(d.Slots(), int64(maxItems)), log: log.With(zap.String("htable", d.Name)),
		refused: stats.New("htable", statName(d.Name)+"_refused", "new items refused because the table was at max_items"),
		lease:   lease}
}

// statName makes a table name fit a metric name ('-' and '.' become '_').
func statName(table string) string { return strings.NewReplacer("-", "_", ".", "_").Replace(table) }

// MaxItems is the table's bound on items.
func (t *Table) MaxItems() int64 { return t.mem.max }

// autoTTL is the autoexpire as a duration.
func (t *Table) autoTTL() time.Duration { return time.Duration(t.Def.AutoExpire) * time.Second }

// expireFor is the expire of an item being set. As in Kamailio, items of a
// table without autoexpire never expire; otherwise explicit seconds (> 0)
// win, a new item gets autoexpire, and an update restarts it only with
// updateexpire=1.
func (t *Table) expireFor(old *entry, explicit int64, now int64) int64 {
	switch {
	case t.Def.AutoExpire <= 0:
		return 0
	case explicit > 0:
		return now + explicit*int64(time.Second)
	case old != nil && !t.Def.UpdateExpire:
		return old.expire
	}
	return now + int64(t.autoTTL())
}

// try runs f against Redis when the link is up, bounded by the Redis
// timeout; a failure marks the link down. It reports whether f succeeded.
func (t *Table) try(ctx context.Context, f func(ctx context.Context) error) bool {
	return t.tryFor(ctx, t.red.link.timeout, f)
}

// tryLong is try for whole-table operations (SCAN), which may take longer.
func (t *Table) tryLong(ctx context.Context, f func(ctx context.Context) error) bool {
	return t.tryFor(ctx, max(20*t.red.link.timeout, 2*time.Second), f)
}

func (t *Table) tryFor(ctx context.Context, d time.Duration, f func(ctx context.Context) error) bool {
	l := t.red.link
	if !l.isUp() {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	err := f(cctx)
	cancel()
	if err == nil {
		return true
	}
	if ctx.Err() == nil { // not the caller's own deadline: Redis failed
		l.markDown(err)
	}
	return false
}

// full logs (at most every 10 s) and counts a refused insert.
func (t *Table) full() {
	t.refused.Inc()
	now := time.Now().Unix()
	if last := t.lastFull.Load(); now-last >= 10 && t.lastFull.CompareAndSwap(last, now) {
		t.log.Warn("htable full: new items refused", zap.Int64("max_items", t.mem.max))
	}
}

// mirror records in the local copy what Redis said about an item.
func (t *Table) mirror(name string, v Value, pttl time.Duration, found bool, owned bool, now int64) {
	if !found {
		t.mem.remove(name, now)
		return
	}
	exp := int64(0)
	if pttl > 0 {
		exp = now + int64(pttl)
	}
	_ = t.mem.upsert(name, now, func(old *entry) (entry, bool) {
		o := owned || old != nil && old.owned
		return entry{val: v, expire: exp, owned: o}, true
	})
}

// Get returns a live item's value.
func (t *Table) Get(ctx context.Context, name string) (Value, bool) {
	now := nowNano()
	if t.red != nil {
		var v Value
		var ttl time.Duration
		var found bool
		if t.try(ctx, func(ctx context.Context) (err error) {
			v, ttl, found, err = t.red.get(ctx, name)
			return err
		}) {
			t.mirror(name, v, ttl, found, false, now)
			return v, found
		}
	}
	e, ok := t.mem.get(name, now)
	return e.val, ok
}

// GetItem returns a live item with its expire.
func (t *Table) GetItem(ctx context.Context, name string) (Item, bool) {
	now := nowNano()
	if t.red != nil {
		var v Value
		var ttl time.Duration
		var found bool
		if t.try(ctx, func(ctx context.Context) (err error) {
			v, ttl, found, err = t.red.get(ctx, name)
			return err
		}) {
			t.mirror(name, v, ttl, found, false, now)
			exp := int64(0)
			if ttl > 0 {
				exp = now + int64(ttl)
			}
			return Item{Name: name, Val: v, Expire: exp}, found
		}
	}
	e, ok := t.mem.get(name, now)
	return Item{Name: name, Val: e.val, Expire: e.expire}, ok
}

// Set stores a value; explicit > 0 sets the expire in seconds (setx*).
func (t *Table) Set(ctx context.Context, name string, v Value, explicit int64) error {
	local := func(now int64) error {
		err := t.mem.upsert(name, now, func(old *entry) (entry, bool) {
			return entry{val: v, expire: t.expireFor(old, explicit, now), owned: true}, true
		})
		if err == errFull {
			t.full()
		}
		return err
	}
	if t.red == nil {
		return local(nowNano())
	}
	for range 2 {
		var ttl time.Duration
		if t.try(ctx, func(ctx context.Context) (err error) {
			d, keep := t.redisTTL(explicit)
			ttl, err = t.red.set(ctx, name, v, d, keep)
			return err
		}) {
			t.mirror(name, v, ttl, true, true, nowNano())
			return nil
		}
		var err error
		if t.red.link.offline(t.red, name, func() { err = local(nowNano()) }) {
			return err
		}
	}
	return local(nowNano())
}

// redisTTL is the TTL a set sends to Redis, and whether an existing key
// keeps its own (updateexpire=0).
func (t *Table) redisTTL(explicit int64) (time.Duration, bool) {
	switch {
	case t.Def.AutoExpire <= 0:
		return 0, false
	case explicit > 0:
		return time.Duration(explicit) * time.Second, false
	}
	return t.autoTTL(), !t.Def.UpdateExpire
}

// Delete removes an item.
func (t *Table) Delete(ctx context.Context, name string) {
	if t.red == nil {
		t.mem.remove(name, nowNano())
		return
	}
	for range 2 {
		if t.try(ctx, func(ctx context.Context) error {
			_, err := t.red.del(ctx, name)
			return err
		}) {
			t.mem.remove(name, nowNano())
			return
		}
		if t.red.link.offline(t.red, name, func() { t.mem.remove(name, nowNano()) }) {
			return
		}
	}
}

// Add adds delta to an integer item (sht_inc/sht_dec, $shtinc): a missing
// item starts from initval when the table has one. ok is false for a
// string item, or a missing one without initval.
func (t *Table) Add(ctx context.Context, name string, delta int64) (int64, bool) {
	var out int64
	var ok bool
	local := func(now int64) {
		ok = false
		err := t.mem.upsert(name, now, func(old *entry) (entry, bool) {
			switch {
			case old == nil && !t.Def.HasInitVal, old != nil && old.val.IsStr:
				return entry{}, false
			case old == nil:
				out = t.Def.InitVal + delta
			default:
				out = old.val.I + delta
			}
			ok = true
			return entry{val: Int(out), expire: t.expireFor(old, 0, now), owned: true}, true
		})
		if err == errFull {
			t.full()
			ok = false
		}
	}
	if t.red == nil {
		local(nowNano())
		return out, ok
	}
	for range 2 {
		var ttl time.Duration
		if t.try(ctx, func(ctx context.Context) (err error) {
			var init *int64
			if t.Def.HasInitVal {
				init = &t.Def.InitVal
			}
			out, ttl, ok, err = t.red.add(ctx, name, delta, init, t.autoTTL(), t.Def.UpdateExpire)
			return err
		}) {
			if ok {
				t.mirror(name, Int(out), ttl, true, true, nowNano())
			}
			return out, ok
		}
		if t.red.link.offline(t.red, name, func() { local(nowNano()) }) {
			return out, ok
		}
	}
	local(nowNano())
	return out, ok
}

// SetExpire sets an existing item's expire in seconds (<= 0: never). As in
// Kamailio it does nothing in a table without autoexpire.
func (t *Table) SetExpire(ctx context.Context, name string, secs int64) {
	if t.Def.AutoExpire <= 0 {
		return
	}
	local := func(now int64) {
		_ = t.mem.upsert(name, now, func(old *entry) (entry, bool) {
			if old == nil {
				return entry{}, false
			}
			e := *old
			e.expire, e.owned = 0, true
			if secs > 0 {
				e.expire = now + secs*int64(time.Second)
			}
			return e, true
		})
	}
	if t.red == nil {
		local(nowNano())
		return
	}
	for range 2 {
		if t.try(ctx, func(ctx context.Context) error {
			return t.red.expire(ctx, name, time.Duration(max(secs, 0))*time.Second)
		}) {
			local(nowNano())
			return
		}
		if t.red.link.offline(t.red, name, func() { local(nowNano()) }) {
			return
		}
	}
}

// ExpireIn is $shtex: whole seconds left before the item expires, 0 when it
// never does, is missing, or the table has no autoexpire.
func (t *Table) ExpireIn(ctx context.Context, name string) int64 {
	if t.Def.AutoExpire <= 0 {
		return 0
	}
	it, ok := t.GetItem(ctx, name)
	if !ok || it.Expire == 0 {
		return 0
	}
	return ceilSeconds(it.Expire - nowNano())
}

// Walk calls f for every live item (Redis: a SCAN; the local copy when
// Redis is down); f returns false to stop.
func (t *Table) Walk(ctx context.Context, f func(it Item) bool) {
	t.walkPrefix(ctx, "", f)
}

func (t *Table) walkPrefix(ctx context.Context, prefix string, f func(it Item) bool) {
	now := nowNano()
	if t.red != nil {
		// Items go to f as the scan finds them; if the scan fails half way
		// the local copy is walked for the rest, skipping what f has seen.
		seen := map[string]bool{}
		stopped := false
		if t.tryLong(ctx, func(ctx context.Context) error {
			return t.red.scan(ctx, prefix, func(name string, v Value, pttl int64) bool {
				if seen[name] {
					return true
				}
				seen[name] = true
				exp := int64(0)
				if pttl > 0 {
					exp = now + pttl
				}
				if !f(Item{Name: name, Val: v, Expire: exp}) {
					stopped = true
					return false
				}
				return true
			})
		}) || stopped {
			return
		}
		t.mem.walk(now, func(_ int, it Item) bool {
			if seen[it.Name] || len(prefix) > 0 && (len(it.Name) < len(prefix) || it.Name[:len(prefix)] != prefix) {
				return true
			}
			return f(it)
		})
		return
	}
	t.mem.walk(now, func(_ int, it Item) bool { return f(it) })
}

// RemoveIf deletes the items for which f is true and returns how many.
func (t *Table) RemoveIf(ctx context.Context, f func(it Item) bool) int {
	local := func() int {
		return len(t.mem.removeIf(nowNano(), func(name string, e *entry) bool {
			return f(Item{Name: name, Val: e.val, Expire: e.expire})
		}))
	}
	if t.red == nil {
		return local()
	}
	var names []string
	if t.tryLong(ctx, func(ctx context.Context) error {
		names = names[:0]
		err := t.red.scan(ctx, "", func(name string, v Value, pttl int64) bool {
			if f(Item{Name: name, Val: v}) {
				names = append(names, name)
			}
			return true
		})
		if err != nil {
			return err
		}
		return t.red.unlink(ctx, names)
	}) {
		local()
		return len(names)
	}
	n := 0
	if !t.red.link.offlineReset(t.red, func() { n = local() }) {
		n = local() // Redis came back meanwhile: the next call reaches it
	}
	return n
}

// Reset empties the table.
func (t *Table) Reset(ctx context.Context) {
	if t.red == nil {
		t.mem.reset()
		return
	}
	if t.tryLong(ctx, func(ctx context.Context) error {
		var names []string
		if err := t.red.scan(ctx, "", func(name string, _ Value, _ int64) bool {
			names = append(names, name)
			return true
		}); err != nil {
			return err
		}
		return t.red.unlink(ctx, names)
	}) {
		t.mem.reset()
		return
	}
	if !t.red.link.offlineReset(t.red, t.mem.reset) {
		t.mem.reset()
	}
}

// Has reports whether an item matching p exists, by name or by string value.
func (t *Table) Has(ctx context.Context, byValue bool, p predicate) bool {
	found := false
	t.Walk(ctx, func(it Item) bool {
		if byValue {
			found = it.Val.IsStr && p(it.Val.S)
		} else {
			found = p(it.Name)
		}
		return !found
	})
	return found
}

// Count counts the items a $shtcn/$shtcv expression selects.
func (t *Table) Count(ctx context.Context, c *counter, byValue bool) int {
	n := 0
	prefix := ""
	if !byValue {
		prefix = c.prefix
	}
	t.walkPrefix(ctx, prefix, func(it Item) bool {
		if c.matches(it, byValue) {
			n++
		}
		return true
	})
	return n
}

// SlotOf is the slot number of an item name (htable.dump "entry").
func (t *Table) SlotOf(name string) int { return t.mem.slotOf(name) }

// SlotSizes counts the items of every slot (htable.stats).
func (t *Table) SlotSizes(ctx context.Context) []int {
	if t.red == nil {
		return t.mem.slotSizes()
	}
	sizes := make([]int, len(t.mem.slots))
	t.Walk(ctx, func(it Item) bool {
		sizes[t.mem.slotOf(it.Name)]++
		return true
	})
	return sizes
}

// Lock takes the sht_lock of name's slot for owner.
func (t *Table) Lock(ctx context.Context, owner any, name string) bool {
	return t.mem.userLockOf(name).lock(ctx, owner, t.lease)
}

// Unlock releases it.
func (t *Table) Unlock(owner any, name string) bool {
	return t.mem.userLockOf(name).unlock(owner)
}
