package usrloc

import (
	"context"
	"errors"
	"sync/atomic"

	"go.uber.org/zap"
)

// UpdateFunc decides the new contacts of an AoR from its current valid
// ones (ordered as lookup returns them). It returns the complete new list:
// contacts kept as they are, changed ones (same Ruid), new ones (a fresh
// Ruid, seq 0) — a contact left out is deleted. Returning an error leaves
// the record untouched.
type UpdateFunc func(cur []Contact) ([]Contact, error)

// ErrBackend wraps a failure of the database or Redis behind a store: the
// record was not changed.
var ErrBackend = errors.New("location storage unavailable")

// store keeps the records of one usrloc domain (one location table).
// Expired contacts stay in a store until expire takes them out (and raises
// usrloc:contact-expired for them); readers filter them.
type store interface {
	// get returns every contact of aor (expired ones included), ordered.
	get(ctx context.Context, aor string) ([]Contact, error)
	// update applies fn under the AoR's lock and returns the resulting
	// contacts (expired ones included), ordered. Expired contacts are not
	// passed to fn and are kept for expire.
	update(ctx context.Context, aor string, fn UpdateFunc) ([]Contact, error)
	// remove deletes an AoR with all its contacts; false if it had none.
	remove(ctx context.Context, aor string) (bool, error)
	// walk calls fn for every AoR until fn returns false.
	walk(ctx context.Context, fn func(aor string, cs []Contact) bool) error
	// expire takes the contacts expired at now out and returns them.
	expire(ctx context.Context, now int64) ([]Contact, error)
	// counts are the AoRs and contacts held (for statistics).
	counts() (users, contacts int64)
	// flush writes what is pending to the database (write-back).
	flush(ctx context.Context) error
	// stats is what ul.dump shows: slots and the most records in one.
	slots() (size, maxPerSlot int)
	close()
}

// health tracks whether a backend answers, so an outage is logged once when
// it starts and once when it ends instead of once per request.
type health struct {
	what string // "database", "redis"
	log  *zap.Logger
	down atomic.Bool
}

// fail records a failed operation; it logs only the first of an outage.
func (h *health) fail(err error) {
	if h.down.CompareAndSwap(false, true) {
		h.log.Error("usrloc: "+h.what+" unreachable: registrations are refused (500) and lookups use the cached contacts until it answers again",
			zap.Error(err))
	}
}

// ok records a successful operation; it logs the end of an outage.
func (h *health) ok() {
	if h.down.CompareAndSwap(true, false) {
		h.log.Info("usrloc: " + h.what + " reachable again")
	}
}

// diff compares an AoR's contacts before and after a change: the contacts
// to write (new or changed) and the ruids to delete.
func diff(old, next []Contact) (ups []Contact, dels []string) {
	prev := make(map[string]*Contact, len(old))
	for i := range old {
		prev[old[i].Ruid] = &old[i]
	}
	for i := range next {
		c := &next[i]
		if p, ok := prev[c.Ruid]; ok {
			delete(prev, c.Ruid)
			if p.Same(c) {
				continue
			}
		}
		ups = append(ups, *c)
	}
	for _, c := range old {
		if _, gone := prev[c.Ruid]; gone {
			dels = append(dels, c.Ruid)
		}
	}
	return ups, dels
}

// prepare completes what fn returned: new contacts get their insertion
// number, the expired contacts of old are kept, and the list is ordered.
func prepare(aor string, old, next []Contact, now int64, descTime bool) []Contact {
	out := make([]Contact, 0, len(next)+1)
	for _, c := range next {
		c.AOR = aor
		if c.Ruid == "" {
			c.Ruid = NewRuid("uloc")
		}
		if c.seq == 0 {
			c.seq = nextSeq()
		}
		out = append(out, c)
	}
	for _, c := range old {
		if !c.Valid(now) {
			out = append(out, c)
		}
	}
	order(out, descTime)
	return out
}
