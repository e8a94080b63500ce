package usrloc

import (
	"context"
	"fmt"
)

// pgOnlyStore is db_mode 3 (DB-only): no cache, every operation reads and
// writes the location table, so several nodes can share one database. A
// change runs in a transaction holding an advisory lock on the AoR, so two
// nodes saving the same AoR at once take turns.
type pgOnlyStore struct {
	db       *pgTable
	table    string
	descTime bool
	dbh      *health
	rmDelay  int64 // rm_expired_delay: expired rows stay this long
}

func (s *pgOnlyStore) fail(err error) error {
	s.dbh.fail(err)
	return fmt.Errorf("%w: %v", ErrBackend, err)
}

// loaded numbers rows in table order and sorts them as lookup returns them.
func (s *pgOnlyStore) loaded(cs []Contact) []Contact {
	for i := range cs {
		cs[i].seq = uint64(i + 1)
		cs[i].state = csSync
	}
	order(cs, s.descTime)
	return cs
}

func (s *pgOnlyStore) get(ctx context.Context, aor string) ([]Contact, error) {
	cs, err := s.db.loadAOR(ctx, s.db.pool, aor)
	if err != nil {
		return nil, s.fail(err)
	}
	s.dbh.ok()
	return s.loaded(cs), nil
}

func (s *pgOnlyStore) update(ctx context.Context, aor string, fn UpdateFunc) ([]Contact, error) {
	tx, err := s.db.pool.Begin(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", s.table+":"+aor); err != nil {
		return nil, s.fail(err)
	}
	old, err := s.db.loadAOR(ctx, tx, aor)
	if err != nil {
		return nil, s.fail(err)
	}
	old = s.loaded(old)
	now := unixNow()
	next, err := fn(validOnly(old, now))
	if err != nil {
		return nil, err
	}
	next = prepare(aor, old, next, now, s.descTime)
	ups, dels := diff(old, next)
	if err := s.db.applyOn(ctx, tx, ups, dels); err != nil {
		return nil, s.fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.fail(err)
	}
	s.dbh.ok()
	for i := range next {
		next[i].state = csSync
	}
	return next, nil
}

func (s *pgOnlyStore) remove(ctx context.Context, aor string) (bool, error) {
	existed := false
	_, err := s.update(ctx, aor, func(cur []Contact) ([]Contact, error) {
		existed = len(cur) > 0
		return nil, nil
	})
	return existed, err
}

func (s *pgOnlyStore) walk(ctx context.Context, fn func(aor string, cs []Contact) bool) error {
	all, err := s.db.loadAll(ctx)
	if err != nil {
		return s.fail(err)
	}
	s.dbh.ok()
	for aor, cs := range all {
		if !fn(aor, s.loaded(cs)) {
			break
		}
	}
	return nil
}

func (s *pgOnlyStore) expire(ctx context.Context, now int64) ([]Contact, error) {
	out, err := s.db.deleteExpired(ctx, now-s.rmDelay)
	if err != nil {
		return nil, s.fail(err)
	}
	s.dbh.ok()
	return out, nil
}

// counts are not kept without a cache (as Kamailio's DB-only mode).
func (s *pgOnlyStore) counts() (int64, int64)      { return 0, 0 }
func (s *pgOnlyStore) flush(context.Context) error { return nil }
func (s *pgOnlyStore) slots() (int, int)           { return 0, 0 }
func (s *pgOnlyStore) close()                      {}
