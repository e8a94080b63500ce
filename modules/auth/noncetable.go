package auth

import (
	"math/bits"
	"sync"
)

// nonceTable remembers, per nonce id, the highest nonce count accepted
// (nonce_count) or that the nonce was used (one_time_nonce). It is bounded:
// a fixed array of buckets of ncWays entries, allocated once.
//
// A nonce is entered at its first successful use, not when issued, so the
// nonces of another node (sharing the secret) are accepted on first use.
// When a bucket is full its entry that expires first is dropped, and the
// bucket remembers the latest expiry it ever dropped (evictedUntil): a nonce
// not found whose expiry is not after that may have been dropped, so it is
// reported as forgotten (the caller answers stale, forcing a fresh nonce)
// instead of being taken for a first use. A replay can therefore never pass
// because the table was full; at worst an honest client is re-challenged.
type nonceTable struct {
	buckets []ncBucket
	mask    uint64
}

const ncWays = 8

type ncBucket struct {
	mu           sync.Mutex
	evictedUntil uint32
	e            [ncWays]ncEntry
}

// ncEntry: id 0 is a free slot (issued ids are never 0).
type ncEntry struct {
	id      uint64
	expires uint32
	nc      uint32
}

// ncVerdict is what the table says about one use of a nonce.
type ncVerdict uint8

const (
	ncFresh     ncVerdict = iota // never seen with this or a higher count: accept
	ncReused                     // seen with this or a higher count (or once, for one-time nonces)
	ncForgotten                  // may have been dropped: re-challenge
)

// newNonceTable sizes the table for at least n entries (rounded up to a
// power of two).
func newNonceTable(n int) *nonceTable {
	if n < ncWays {
		n = ncWays
	}
	want := (n + ncWays - 1) / ncWays
	nb := 1 << bits.Len(uint(want-1))
	return &nonceTable{buckets: make([]ncBucket, nb), mask: uint64(nb - 1)}
}

func (t *nonceTable) bucket(id uint64) *ncBucket {
	// ids are random; mix anyway so a poor id source cannot crowd a bucket.
	return &t.buckets[(id*0x9E3779B97F4A7C15>>32)&t.mask]
}

// check judges a use without recording it. counted says whether the use
// carries a nonce count nc (nonce_count); without one, any earlier use is
// a reuse (one_time_nonce).
func (t *nonceTable) check(id uint64, expires, nc uint32, counted bool) ncVerdict {
	b := t.bucket(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.judge(id, expires, nc, counted)
}

func (b *ncBucket) judge(id uint64, expires, nc uint32, counted bool) ncVerdict {
	for i := range b.e {
		if b.e[i].id == id {
			if counted && nc > b.e[i].nc {
				return ncFresh
			}
			return ncReused
		}
	}
	if expires <= b.evictedUntil {
		return ncForgotten
	}
	return ncFresh
}

// commit records a successful use, unless another use got there first (the
// same verdict as check, taken again under the lock, so two concurrent
// requests with one nonce count cannot both pass). now lets an expired
// entry be reused before a live one is dropped.
func (t *nonceTable) commit(id uint64, expires, nc uint32, counted bool, now uint32) ncVerdict {
	b := t.bucket(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	if v := b.judge(id, expires, nc, counted); v != ncFresh {
		return v
	}
	if !counted {
		nc = 0
	}
	free, oldest := -1, 0
	for i := range b.e {
		switch {
		case b.e[i].id == id:
			b.e[i].nc = nc
			return ncFresh
		case free < 0 && (b.e[i].id == 0 || b.e[i].expires < now):
			free = i
		case b.e[i].expires < b.e[oldest].expires:
			oldest = i
		}
	}
	if free < 0 {
		free = oldest
		if x := b.e[free].expires; x > b.evictedUntil {
			b.evictedUntil = x
		}
	}
	b.e[free] = ncEntry{id: id, expires: expires, nc: nc}
	return ncFresh
}
