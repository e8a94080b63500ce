package htable

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// errFull is returned when a new item would take a table past max_items.
var errFull = errors.New("table is full (max_items)")

// memTable is the embedded storage: 2^size slots, each a mutex and a map.
// The slots shard the locking (and give htable.dump its "entry" numbers);
// the maps keep lookups O(1) whatever the keys, and the per-table random
// hash seed keeps an attacker from aiming many keys at one slot. Expired
// items may sit in the maps until the timer collects them: every read
// treats them as missing.
type memTable struct {
	slots []slot
	mask  uint64
	seed  maphash.Seed
	n     atomic.Int64 // entries in the maps, expired ones included
	max   int64
}

type slot struct {
	mu    sync.Mutex
	items map[string]*entry
	ulock *userLock // sht_lock, created on first use
}

type entry struct {
	val    Value
	expire int64 // unix nanoseconds; 0 = never
	// owned marks an item this node wrote (Redis tables keep a local copy
	// of what they read too, and only raise expiry events for their own).
	owned bool
}

func (e *entry) live(now int64) bool { return e.expire == 0 || now < e.expire }

func newMemTable(slots int, max int64) *memTable {
	return &memTable{slots: make([]slot, slots), mask: uint64(slots - 1), seed: maphash.MakeSeed(), max: max}
}

func (t *memTable) slotOf(key string) int { return int(maphash.String(t.seed, key) & t.mask) }

// get returns a copy of a live entry.
func (t *memTable) get(key string, now int64) (entry, bool) {
	s := &t.slots[t.slotOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok || !e.live(now) {
		return entry{}, false
	}
	return *e, true
}

// upsert runs f on the live entry for key (nil when missing or expired)
// under the slot lock; f returns the new entry, or keep=false to leave the
// table unchanged. A new key in a full table fails with errFull.
func (t *memTable) upsert(key string, now int64, f func(old *entry) (entry, bool)) error {
	s := &t.slots[t.slotOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, exists := s.items[key]
	var old *entry
	if exists && e.live(now) {
		c := *e
		old = &c
	}
	ne, keep := f(old)
	if !keep {
		return nil
	}
	if exists {
		*e = ne
		return nil
	}
	if !t.reserve() {
		return errFull
	}
	if s.items == nil {
		s.items = make(map[string]*entry)
	}
	s.items[key] = &ne
	return nil
}

// reserve counts one more entry unless the table is at max_items.
func (t *memTable) reserve() bool {
	for {
		n := t.n.Load()
		if n >= t.max {
			return false
		}
		if t.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// touch runs f on the entry for key, live or expired; false when missing.
func (t *memTable) touch(key string, f func(e *entry)) bool {
	s := &t.slots[t.slotOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if ok {
		f(e)
	}
	return ok
}

// remove deletes key; it reports whether a live entry was there.
func (t *memTable) remove(key string, now int64) bool {
	s := &t.slots[t.slotOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok {
		return false
	}
	delete(s.items, key)
	t.n.Add(-1)
	return e.live(now)
}

// removeIf deletes the entries (live or not) for which f is true and
// returns the live ones removed.
func (t *memTable) removeIf(now int64, f func(name string, e *entry) bool) []Item {
	var out []Item
	for i := range t.slots {
		s := &t.slots[i]
		s.mu.Lock()
		for k, e := range s.items {
			if f(k, e) {
				if e.live(now) {
					out = append(out, Item{Name: k, Val: e.val, Expire: e.expire})
				}
				delete(s.items, k)
				t.n.Add(-1)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// walk calls f for every live entry, slot by slot; each slot is copied
// under its lock and f runs unlocked, so f may use the table. f returns
// false to stop.
func (t *memTable) walk(now int64, f func(slot int, it Item) bool) {
	var buf []Item
	for i := range t.slots {
		s := &t.slots[i]
		buf = buf[:0]
		s.mu.Lock()
		for k, e := range s.items {
			if e.live(now) {
				buf = append(buf, Item{Name: k, Val: e.val, Expire: e.expire})
			}
		}
		s.mu.Unlock()
		for _, it := range buf {
			if !f(i, it) {
				return
			}
		}
	}
}

// slotItems copies the live items of one slot (iterators go slot by slot).
func (t *memTable) slotItems(i int, now int64) []Item {
	s := &t.slots[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for k, e := range s.items {
		if e.live(now) {
			out = append(out, Item{Name: k, Val: e.val, Expire: e.expire})
		}
	}
	return out
}

// expired lists the expired entries; owned tells whether this node wrote them.
func (t *memTable) expired(now int64) (items []Item, owned []bool) {
	for i := range t.slots {
		s := &t.slots[i]
		s.mu.Lock()
		for k, e := range s.items {
			if !e.live(now) {
				items = append(items, Item{Name: k, Val: e.val, Expire: e.expire})
				owned = append(owned, e.owned)
			}
		}
		s.mu.Unlock()
	}
	return items, owned
}

// removeExpired deletes key if it is (still) expired: an expiry callback
// may have set it again meanwhile.
func (t *memTable) removeExpired(key string, now int64) bool {
	s := &t.slots[t.slotOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok || e.live(now) {
		return false
	}
	delete(s.items, key)
	t.n.Add(-1)
	return true
}

// reset empties the table.
func (t *memTable) reset() {
	for i := range t.slots {
		s := &t.slots[i]
		s.mu.Lock()
		t.n.Add(-int64(len(s.items)))
		s.items = nil
		s.mu.Unlock()
	}
}

// replaceAll swaps the whole content for items (a database reload), slot by
// slot; readers see either the old or the new item of a key.
func (t *memTable) replaceAll(items map[string]entry) error {
	if int64(len(items)) > t.max {
		return errFull
	}
	next := make([]map[string]*entry, len(t.slots))
	for k, e := range items {
		i := t.slotOf(k)
		if next[i] == nil {
			next[i] = make(map[string]*entry)
		}
		ec := e
		next[i][k] = &ec
	}
	for i := range t.slots {
		s := &t.slots[i]
		s.mu.Lock()
		t.n.Add(int64(len(next[i]) - len(s.items)))
		s.items = next[i]
		s.mu.Unlock()
	}
	return nil
}

// slotSizes returns the number of entries of every slot (htable.stats).
func (t *memTable) slotSizes() []int {
	out := make([]int, len(t.slots))
	for i := range t.slots {
		s := &t.slots[i]
		s.mu.Lock()
		out[i] = len(s.items)
		s.mu.Unlock()
	}
	return out
}

// userLockOf returns the sht_lock of key's slot.
func (t *memTable) userLockOf(key string) *userLock {
	s := &t.slots[t.slotOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ulock == nil {
		s.ulock = newUserLock()
	}
	return s.ulock
}
