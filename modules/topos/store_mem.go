package topos

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// memStore is the embedded storage: records in sharded maps of this process,
// each with its expiry; a cleaner removes expired ones every clean_interval
// and lookups never return one. It is bounded by max_records: when full,
// new dialogs fail (the caller answers 500) instead of memory growing.
type memStore struct {
	seed   maphash.Seed
	shards [32]memShard
	n      atomic.Int64 // records held
	max    int64
	now    func() time.Time
	stop   chan struct{}
	done   chan struct{}
}

type memShard struct {
	mu       sync.Mutex
	dialogs  map[string]memDialog
	branches map[string]memBranch
}

type memDialog struct {
	d   Dialog
	exp time.Time
}

type memBranch struct {
	b   Branch
	exp time.Time
}

func newMemStore(max int, clean time.Duration) *memStore {
	s := &memStore{seed: maphash.MakeSeed(), max: int64(max), now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range s.shards {
		s.shards[i].dialogs = map[string]memDialog{}
		s.shards[i].branches = map[string]memBranch{}
	}
	go s.cleaner(clean)
	return s
}

func (s *memStore) shard(key string) *memShard {
	return &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
}

func nsKey(ns, k string) string {
	if ns == "" {
		return k
	}
	return ns + "\x00" + k
}

func (s *memStore) CreateInitial(_ context.Context, ns string, d *Dialog, b *Branch, ttl time.Duration) (string, error) {
	bk := nsKey(ns, "b:"+b.Key)
	bs := s.shard(bk)
	bs.mu.Lock()
	if old, ok := bs.branches[bk]; ok && s.now().Before(old.exp) {
		bs.mu.Unlock()
		return old.b.DialogID, nil
	}
	if s.n.Load()+2 > s.max {
		bs.mu.Unlock()
		return "", ErrFull
	}
	exp := s.now().Add(ttl)
	if _, ok := bs.branches[bk]; !ok {
		s.n.Add(1)
	}
	bs.branches[bk] = memBranch{b: *b, exp: exp}
	bs.mu.Unlock()
	dk := nsKey(ns, "d:"+d.ID)
	ds := s.shard(dk)
	ds.mu.Lock()
	if _, ok := ds.dialogs[dk]; !ok {
		s.n.Add(1)
	}
	ds.dialogs[dk] = memDialog{d: *d, exp: exp}
	ds.mu.Unlock()
	return d.ID, nil
}

func (s *memStore) Dialog(_ context.Context, ns, id string) (*Dialog, error) {
	k := nsKey(ns, "d:"+id)
	sh := s.shard(k)
	sh.mu.Lock()
	e, ok := sh.dialogs[k]
	sh.mu.Unlock()
	if !ok || !s.now().Before(e.exp) {
		return nil, ErrNotFound
	}
	d := e.d
	return &d, nil
}

func (s *memStore) Branch(_ context.Context, ns, key string) (*Branch, error) {
	k := nsKey(ns, "b:"+key)
	sh := s.shard(k)
	sh.mu.Lock()
	e, ok := sh.branches[k]
	sh.mu.Unlock()
	if !ok || !s.now().Before(e.exp) {
		return nil, ErrNotFound
	}
	b := e.b
	return &b, nil
}

func (s *memStore) PutBranch(_ context.Context, ns string, b *Branch, ttl time.Duration, dialogID string, dialogTTL time.Duration) error {
	k := nsKey(ns, "b:"+b.Key)
	sh := s.shard(k)
	sh.mu.Lock()
	if _, ok := sh.branches[k]; !ok {
		if s.n.Load()+1 > s.max {
			sh.mu.Unlock()
			return ErrFull
		}
		s.n.Add(1)
	}
	sh.branches[k] = memBranch{b: *b, exp: s.now().Add(ttl)}
	sh.mu.Unlock()
	if dialogTTL > 0 && dialogID != "" {
		s.touchDialog(ns, dialogID, nil, dialogTTL)
	}
	return nil
}

func (s *memStore) UpdateDialog(_ context.Context, ns, id string, fields map[string]string, ttl time.Duration, branchKey string, branchTTL time.Duration) error {
	if !s.touchDialog(ns, id, fields, ttl) {
		return ErrNotFound
	}
	if branchKey != "" && branchTTL > 0 {
		k := nsKey(ns, "b:"+branchKey)
		sh := s.shard(k)
		sh.mu.Lock()
		if e, ok := sh.branches[k]; ok && s.now().Before(e.exp) {
			e.exp = s.now().Add(branchTTL)
			sh.branches[k] = e
		}
		sh.mu.Unlock()
	}
	return nil
}

// touchDialog sets fields and (ttl > 0) the lifetime of a live dialog.
func (s *memStore) touchDialog(ns, id string, fields map[string]string, ttl time.Duration) bool {
	k := nsKey(ns, "d:"+id)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.dialogs[k]
	if !ok || !s.now().Before(e.exp) {
		return false
	}
	for c, v := range fields {
		e.d.set(c, v)
	}
	if ttl > 0 {
		e.exp = s.now().Add(ttl)
	}
	sh.dialogs[k] = e
	return true
}

// cleaner removes expired records every interval.
func (s *memStore) cleaner(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.clean()
		}
	}
}

// clean drops every expired record.
func (s *memStore) clean() {
	now := s.now()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.dialogs {
			if !now.Before(e.exp) {
				delete(sh.dialogs, k)
				s.n.Add(-1)
			}
		}
		for k, e := range sh.branches {
			if !now.Before(e.exp) {
				delete(sh.branches, k)
				s.n.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

// count returns the number of dialogs and branches held (expired ones
// until the next clean included).
func (s *memStore) count() (dialogs, branches int) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		dialogs += len(sh.dialogs)
		branches += len(sh.branches)
		sh.mu.Unlock()
	}
	return
}

func (s *memStore) Close() {
	select {
	case <-s.stop:
		return
	default:
		close(s.stop)
	}
	<-s.done
}
