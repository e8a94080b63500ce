package usrloc

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// memStore is the embedded store: records in a hash table of 2^hash_size
// slots, one lock per slot (Kamailio's layout). With a database behind it
// (db_mode 1 and 2) it is the cache: write-through writes every change before
// it is applied in memory, write-back marks the change and flush writes it.
type memStore struct {
	slotArr   []memSlot
	mask      uint32
	db        *pgTable // nil: memory only
	writeBack bool
	descTime  bool
	dbh       *health

	users, contacts atomic.Int64

	pmu        sync.Mutex // guards dirty and pendingDel; taken after a slot lock, never before
	dirty      map[string]struct{}
	pendingDel []string
}

type memSlot struct {
	mu   sync.Mutex
	recs map[string][]Contact
}

func newMemStore(hashSize int, db *pgTable, writeBack, descTime bool, dbh *health) *memStore {
	n := 1 << hashSize
	s := &memStore{slotArr: make([]memSlot, n), mask: uint32(n - 1), db: db, writeBack: writeBack,
		descTime: descTime, dbh: dbh, dirty: map[string]struct{}{}}
	for i := range s.slotArr {
		s.slotArr[i].recs = map[string][]Contact{}
	}
	return s
}

// HashAOR is the hash of an AoR (ul.dump "HashID"), which also picks its slot.
func HashAOR(aor string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(aor))
	return h.Sum32()
}

func (s *memStore) slot(aor string) *memSlot { return &s.slotArr[HashAOR(aor)&s.mask] }

func unixNow() int64 { return time.Now().Unix() }

func clone(cs []Contact) []Contact { return append([]Contact(nil), cs...) }

// load installs records read from the database at start-up.
func (s *memStore) load(recs map[string][]Contact) {
	for aor, cs := range recs {
		for i := range cs {
			cs[i].state = csSync
			cs[i].seq = nextSeq()
		}
		order(cs, s.descTime)
		sl := s.slot(aor)
		sl.mu.Lock()
		s.set(sl, aor, sl.recs[aor], cs)
		sl.mu.Unlock()
	}
}

// set replaces a record in its (locked) slot and keeps the counters.
func (s *memStore) set(sl *memSlot, aor string, old, next []Contact) {
	switch {
	case len(old) == 0 && len(next) > 0:
		s.users.Add(1)
	case len(old) > 0 && len(next) == 0:
		s.users.Add(-1)
	}
	s.contacts.Add(int64(len(next) - len(old)))
	if len(next) == 0 {
		delete(sl.recs, aor)
	} else {
		sl.recs[aor] = next
	}
}

func (s *memStore) get(_ context.Context, aor string) ([]Contact, error) {
	sl := s.slot(aor)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return clone(sl.recs[aor]), nil
}

// dbChanges drops from a change set what the database must not see:
// memory-only contacts (save flag 0x01) are neither written nor deleted,
// and a contact that became memory-only is deleted from it.
func dbChanges(old []Contact, ups []Contact, dels []string) ([]Contact, []string) {
	memOnly := map[string]bool{}
	for _, c := range old {
		memOnly[c.Ruid] = c.Flags&FlMem != 0
	}
	var u []Contact
	var d []string
	for _, c := range ups {
		if c.Flags&FlMem == 0 {
			u = append(u, c)
		} else if was, ok := memOnly[c.Ruid]; ok && !was {
			d = append(d, c.Ruid)
		}
	}
	for _, r := range dels {
		if !memOnly[r] {
			d = append(d, r)
		}
	}
	return u, d
}

func (s *memStore) update(ctx context.Context, aor string, fn UpdateFunc) ([]Contact, error) {
	sl := s.slot(aor)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	old := sl.recs[aor]
	now := unixNow()
	next, err := fn(validOnly(old, now))
	if err != nil {
		return nil, err
	}
	next = prepare(aor, old, next, now, s.descTime)
	ups, dels := diff(old, next)
	if len(ups) == 0 && len(dels) == 0 {
		return clone(old), nil
	}
	if err := s.persist(ctx, aor, old, next, ups, dels); err != nil {
		return nil, err
	}
	s.set(sl, aor, old, next)
	return clone(next), nil
}

// persist writes a change through, or marks it for the write-back flush,
// and sets the contacts' write state. The slot is locked.
func (s *memStore) persist(ctx context.Context, aor string, old, next []Contact, ups []Contact, dels []string) error {
	if s.db == nil {
		return nil
	}
	ups, dels = dbChanges(old, ups, dels)
	changed := map[string]bool{}
	for _, c := range ups {
		changed[c.Ruid] = true
	}
	if !s.writeBack {
		if len(ups)+len(dels) > 0 {
			if err := s.db.apply(ctx, ups, dels); err != nil {
				s.dbh.fail(err)
				return fmt.Errorf("%w: %v", ErrBackend, err)
			}
			s.dbh.ok()
		}
		for i := range next {
			if changed[next[i].Ruid] {
				next[i].state = csSync
			}
		}
		return nil
	}
	for i := range next {
		if changed[next[i].Ruid] && next[i].state == csSync {
			next[i].state = csDirty
		}
	}
	s.pmu.Lock()
	if len(ups) > 0 {
		s.dirty[aor] = struct{}{}
	}
	s.pendingDel = append(s.pendingDel, dels...)
	s.pmu.Unlock()
	return nil
}

func (s *memStore) remove(ctx context.Context, aor string) (bool, error) {
	sl := s.slot(aor)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	old := sl.recs[aor]
	if len(old) == 0 {
		return false, nil
	}
	_, dels := diff(old, nil)
	if err := s.persist(ctx, aor, old, nil, nil, dels); err != nil {
		return false, err
	}
	s.set(sl, aor, old, nil)
	return true, nil
}

func (s *memStore) walk(_ context.Context, fn func(aor string, cs []Contact) bool) error {
	type rec struct {
		aor string
		cs  []Contact
	}
	var batch []rec
	for i := range s.slotArr {
		sl := &s.slotArr[i]
		batch = batch[:0]
		sl.mu.Lock()
		for aor, cs := range sl.recs {
			batch = append(batch, rec{aor, clone(cs)})
		}
		sl.mu.Unlock()
		for _, r := range batch {
			if !fn(r.aor, r.cs) {
				return nil
			}
		}
	}
	return nil
}

func (s *memStore) expire(ctx context.Context, now int64) ([]Contact, error) {
	var out []Contact
	var dels []string
	for i := range s.slotArr {
		sl := &s.slotArr[i]
		sl.mu.Lock()
		for aor, cs := range sl.recs {
			var keep []Contact
			gone := 0
			for _, c := range cs {
				if c.Valid(now) {
					keep = append(keep, c)
					continue
				}
				gone++
				out = append(out, c)
				if c.Flags&FlMem == 0 {
					dels = append(dels, c.Ruid)
				}
			}
			if gone > 0 {
				s.set(sl, aor, cs, keep)
			}
		}
		sl.mu.Unlock()
	}
	if s.db == nil || len(dels) == 0 {
		return out, nil
	}
	if !s.writeBack {
		err := s.db.apply(ctx, nil, dels)
		if err == nil {
			s.dbh.ok()
			return out, nil
		}
		s.dbh.fail(err)
	}
	// Write-back, or the database did not answer: the next flush deletes them.
	s.pmu.Lock()
	s.pendingDel = append(s.pendingDel, dels...)
	s.pmu.Unlock()
	return out, nil
}

// flushBatch bounds the rows of one database round trip.
const flushBatch = 500

func (s *memStore) flush(ctx context.Context) error {
	if s.db == nil {
		return nil
	}
	s.pmu.Lock()
	dirty, dels := s.dirty, s.pendingDel
	s.dirty, s.pendingDel = map[string]struct{}{}, nil
	s.pmu.Unlock()
	var ups []Contact
	for aor := range dirty {
		sl := s.slot(aor)
		sl.mu.Lock()
		for _, c := range sl.recs[aor] {
			if c.Flags&FlMem == 0 && c.state != csSync {
				ups = append(ups, c)
			}
		}
		sl.mu.Unlock()
	}
	for len(ups) > 0 || len(dels) > 0 {
		u := ups[:min(len(ups), flushBatch)]
		d := dels[:min(len(dels), flushBatch)]
		if err := s.db.apply(ctx, u, d); err != nil {
			s.dbh.fail(err)
			s.requeue(ups, dels)
			return err
		}
		s.dbh.ok()
		s.markSynced(u)
		ups, dels = ups[len(u):], dels[len(d):]
	}
	return nil
}

// requeue puts back what a failed flush did not write.
func (s *memStore) requeue(ups []Contact, dels []string) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	for _, c := range ups {
		s.dirty[c.AOR] = struct{}{}
	}
	s.pendingDel = append(dels, s.pendingDel...)
}

// markSynced marks written contacts CS_SYNC unless they changed meanwhile.
func (s *memStore) markSynced(written []Contact) {
	for _, w := range written {
		sl := s.slot(w.AOR)
		sl.mu.Lock()
		cs := sl.recs[w.AOR]
		for i := range cs {
			if cs[i].Ruid == w.Ruid && cs[i].Same(&w) {
				cs[i].state = csSync
			}
		}
		sl.mu.Unlock()
	}
}

func (s *memStore) counts() (int64, int64) { return s.users.Load(), s.contacts.Load() }

func (s *memStore) slots() (int, int) {
	most := 0
	for i := range s.slotArr {
		sl := &s.slotArr[i]
		sl.mu.Lock()
		most = max(most, len(sl.recs))
		sl.mu.Unlock()
	}
	return len(s.slotArr), most
}

func (s *memStore) close() {}
