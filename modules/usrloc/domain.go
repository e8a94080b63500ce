package usrloc

import (
	"context"
	"sync"
	"time"

	"github.com/luasbc/luasbc/core/stats"
)

// Domain is one location table ("location"): Kamailio calls it a usrloc
// domain. Its methods are what registrar and the RPC commands use.
type Domain struct {
	Name    string
	m       *Module
	st      store
	expired *stats.Counter
}

func newDomain(m *Module, name string, st store) *Domain {
	d := &Domain{Name: name, m: m, st: st,
		expired: stats.New("usrloc", name+"_expires", "contacts expired in location table "+name)}
	stats.Gauge("usrloc", name+"_users", func() int64 { u, _ := d.st.counts(); return u })
	stats.Gauge("usrloc", name+"_contacts", func() int64 { _, c := d.st.counts(); return c })
	return d
}

// Get returns the valid contacts of aor, ordered as lookup uses them. With
// a backend down it returns what the cache knows.
func (d *Domain) Get(ctx context.Context, aor string) ([]Contact, error) {
	cs, err := d.st.get(ctx, aor)
	if err != nil {
		return nil, err
	}
	return validOnly(cs, unixNow()), nil
}

// GetAll returns every contact of aor still stored, expired ones included
// (registrar's use_expired_contacts).
func (d *Domain) GetAll(ctx context.Context, aor string) ([]Contact, error) {
	return d.st.get(ctx, aor)
}

// Update changes the contacts of aor with fn (see UpdateFunc) and returns
// the valid contacts afterwards. An ErrBackend error means nothing changed.
func (d *Domain) Update(ctx context.Context, aor string, fn UpdateFunc) ([]Contact, error) {
	cs, err := d.st.update(ctx, aor, fn)
	if err != nil {
		return nil, err
	}
	if d.m.s.handleLostTCP {
		d.m.conns.note(d, aor, cs)
	}
	return validOnly(cs, unixNow()), nil
}

// Remove deletes aor with all its contacts; false if it had none.
func (d *Domain) Remove(ctx context.Context, aor string) (bool, error) {
	return d.st.remove(ctx, aor)
}

// RemoveRuid deletes the contact with the given ruid; false if aor has no
// such contact.
func (d *Domain) RemoveRuid(ctx context.Context, aor, ruid string) (bool, error) {
	found := false
	_, err := d.Update(ctx, aor, func(cur []Contact) ([]Contact, error) {
		out := cur[:0]
		for _, c := range cur {
			if c.Ruid == ruid {
				found = true
				continue
			}
			out = append(out, c)
		}
		return out, nil
	})
	return found, err
}

// Walk calls fn for every AoR (contacts as stored, expired ones included)
// until fn returns false.
func (d *Domain) Walk(ctx context.Context, fn func(aor string, cs []Contact) bool) error {
	return d.st.walk(ctx, fn)
}

// Counts are the AoRs and contacts the table holds (for Redis: those this
// node has seen; for db_mode 3: not kept).
func (d *Domain) Counts() (users, contacts int64) { return d.st.counts() }

// Flush writes pending changes to the database (write-back).
func (d *Domain) Flush(ctx context.Context) error { return d.st.flush(ctx) }

// connIndex remembers which AoRs registered over which stream connection,
// for handle_lost_tcp.
type connIndex struct {
	mu sync.Mutex
	by map[int64]map[connRef]struct{}
}

type connRef struct {
	d   *Domain
	aor string
}

func (x *connIndex) init() { x.by = map[int64]map[connRef]struct{}{} }

func (x *connIndex) note(d *Domain, aor string, cs []Contact) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range cs {
		if c.ConnID <= 0 {
			continue
		}
		set := x.by[c.ConnID]
		if set == nil {
			set = map[connRef]struct{}{}
			x.by[c.ConnID] = set
		}
		set[connRef{d, aor}] = struct{}{}
	}
}

func (x *connIndex) take(id int64) []connRef {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.by[id]
	delete(x.by, id)
	out := make([]connRef, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	return out
}

// connClosed removes the contacts registered over a connection that closed
// (handle_lost_tcp).
func (m *Module) connClosed(id uint64) {
	refs := m.conns.take(int64(id))
	if len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.s.redisTimeout+2*time.Second)
	defer cancel()
	for _, r := range refs {
		_, _ = r.d.Update(ctx, r.aor, func(cur []Contact) ([]Contact, error) {
			out := cur[:0]
			for _, c := range cur {
				if c.ConnID != int64(id) {
					out = append(out, c)
				}
			}
			return out, nil
		})
	}
}
