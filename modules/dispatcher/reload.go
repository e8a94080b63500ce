package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// A load builds a complete new table and only then swaps it in with one
// atomic store: requests being routed keep the table they started with (a
// failover list holds its destinations, which stay valid), the next ones
// see the new one. A load that fails as a whole (file unreadable, database
// down, no usable entry, ds_load_mode 1 with a bad entry) leaves the loaded
// table in place and returns why; bad entries are otherwise left out and
// reported one by one. Destinations that are unchanged (same set, URI and
// flags) keep their state across the swap.

// reload reads the source and swaps the table in; it returns the report of
// entries left out or loaded with warnings.
func (d *Dispatcher) reload(ctx context.Context) ([]string, error) {
	start := time.Now()
	l, err := d.src.load(ctx)
	if err != nil {
		d.st.reloadErrs.Inc()
		return nil, err
	}
	return d.install(ctx, l, buildOpts{prev: d.tab.Load()}, start)
}

// install builds and swaps in a table from rows.
func (d *Dispatcher) install(ctx context.Context, l loaded, o buildOpts, start time.Time) ([]string, error) {
	res, err := d.build(ctx, l, o)
	for _, b := range res.bad {
		d.log.Warn("dispatcher: entry left out", zap.String("entry", b))
	}
	for _, w := range res.warns {
		d.log.Warn("dispatcher: entry loaded with a warning", zap.String("entry", w))
	}
	if err != nil {
		d.st.reloadErrs.Inc()
		return append(append([]string(nil), res.bad...), res.warns...), err
	}
	d.tab.Store(res.t)
	d.st.reloads.Inc()
	d.log.Info("dispatcher: destinations loaded", zap.String("source", d.src.describe()),
		zap.Int("sets", len(res.t.order)), zap.Int("destinations", res.t.count()),
		zap.Int("left_out", len(res.bad)), zap.Duration("took", time.Since(start)))
	return res.t.report, nil
}

// errTooSoon is the rate limit of reloads (reload_delta).
var errTooSoon = errors.New("ongoing reload")

// limited runs one list change at a time, at most one per reload_delta,
// like Kamailio's reload, dispatcher.add and dispatcher.remove.
func (d *Dispatcher) limited(ctx context.Context, f func(context.Context) ([]string, error)) ([]string, error) {
	if !d.reloadMu.TryLock() {
		return nil, errTooSoon
	}
	defer d.reloadMu.Unlock()
	if d.cfg.reloadDelta > 0 && !d.lastReload.IsZero() && time.Since(d.lastReload) < d.cfg.reloadDelta {
		return nil, errTooSoon
	}
	d.lastReload = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rep, err := f(ctx)
	if err != nil {
		d.log.Error("dispatcher: list change failed, the loaded list stays", zap.Error(err))
	}
	return rep, err
}

// addDest adds a destination to the list in memory (dispatcher.add); the
// next reload from the source drops it again.
func (d *Dispatcher) addDest(ctx context.Context, r row) ([]string, error) {
	cur := d.tab.Load()
	for _, x := range cur.rows {
		if x.setid == r.setid && x.uri == r.uri {
			return nil, fmt.Errorf("set %d already has %s", r.setid, r.uri)
		}
	}
	rows := append(append([]row(nil), cur.rows...), r)
	return d.rebuildWith(ctx, rows, r)
}

// removeDest removes every entry of set with uri from the list in memory
// (dispatcher.remove).
func (d *Dispatcher) removeDest(ctx context.Context, setid int, uri string) ([]string, error) {
	cur := d.tab.Load()
	rows := make([]row, 0, len(cur.rows))
	for _, x := range cur.rows {
		if x.setid == setid && x.uri == uri {
			continue
		}
		rows = append(rows, x)
	}
	if len(rows) == len(cur.rows) {
		return nil, fmt.Errorf("set %d has no destination %s", setid, uri)
	}
	return d.rebuildWith(ctx, rows, row{})
}

// rebuildWith builds a table from rows, keeping states and addresses; an
// added row that fails fails the change.
func (d *Dispatcher) rebuildWith(ctx context.Context, rows []row, added row) ([]string, error) {
	start := time.Now()
	cur := d.tab.Load()
	if added.uri != "" {
		o := buildOpts{prev: cur, reuseDNS: true}
		if _, _, err := d.makeDest(ctx, added, map[string]netip.Addr{}, o); err != nil {
			return nil, fmt.Errorf("%s: %w", added.where, err)
		}
	}
	return d.install(ctx, loaded{rows: rows}, buildOpts{prev: cur, reuseDNS: true}, start)
}
