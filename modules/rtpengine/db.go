package rtpengine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
)

// reload reads the instances from the database (database mode) and
// installs them: unchanged instances keep their state, new ones are opened,
// removed ones closed. Disabled rows become permanently disabled instances.
// On any error the running list stays.
func (m *Module) reload(ctx context.Context) error {
	if m.cfg.dbURL == "" {
		return fmt.Errorf("no db_url configured: instances come from rtpengine_sock")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := backend.Postgres(ctx, m.cfg.dbURL)
	if err != nil {
		return err
	}
	id := func(s string) string { return pgx.Identifier(strings.Split(s, ".")).Sanitize() }
	q := fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s ORDER BY %s, %s", id(m.cfg.setCol), id(m.cfg.urlCol), id(m.cfg.weightCol),
		id(m.cfg.disabledCol), id(m.cfg.table), id(m.cfg.setCol), id(m.cfg.urlCol))
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("rtpengine table %s: %w", m.cfg.table, err)
	}
	var defs []nodeDef
	disabled := map[string]bool{}
	for rows.Next() {
		var set, weight, dis int
		var url string
		if err := rows.Scan(&set, &url, &weight, &dis); err != nil {
			rows.Close()
			return fmt.Errorf("rtpengine table %s: %w", m.cfg.table, err)
		}
		d, err := parseURL(url)
		if err != nil {
			rows.Close()
			return fmt.Errorf("rtpengine table %s: set %d: %v", m.cfg.table, set, err)
		}
		if set < 0 || weight < 0 || weight > maxWeight {
			rows.Close()
			return fmt.Errorf("rtpengine table %s: %s: set %d weight %d out of range", m.cfg.table, url, set, weight)
		}
		d.Set, d.Weight = set, weight
		defs = append(defs, d)
		disabled[fmt.Sprint(set, " ", d.URL)] = dis != 0
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rtpengine table %s: %w", m.cfg.table, err)
	}
	// Open the new sockets before swapping, so a failure leaves the running
	// list as it was.
	var opened []*node
	for _, d := range defs {
		if len(m.findNode(d)) > 0 {
			continue
		}
		n := newNode(d, 0, m.tcfg)
		if err := n.open(); err != nil {
			for _, o := range opened {
				o.close()
			}
			return err
		}
		opened = append(opened, n)
	}
	added, removed := m.installOpened(defs, opened)
	for _, n := range removed {
		n.close()
	}
	for _, n := range m.pool.byURL("all") {
		if disabled[fmt.Sprint(n.def.Set, " ", n.def.URL)] {
			n.disablePermanent()
		} else if _, perm, _ := n.state(); perm {
			n.enable()
		}
	}
	m.log.Info("rtpengine instances loaded from the database", zap.String("table", m.cfg.table),
		zap.Int("instances", len(defs)), zap.Int("new", len(added)), zap.Int("removed", len(removed)))
	return nil
}

// findNode returns the installed nodes with d's set and URL.
func (m *Module) findNode(d nodeDef) []*node {
	var out []*node
	for _, n := range m.pool.byURL(d.URL) {
		if n.def.Set == d.Set {
			out = append(out, n)
		}
	}
	return out
}

// installOpened installs defs: nodes whose set and URL did not change stay
// (with their state and socket), the others come from opened (already
// opened, or not yet at start-up). It returns the new and the removed nodes.
func (m *Module) installOpened(defs []nodeDef, opened []*node) (added, removed []*node) {
	byKey := map[string]*node{}
	for _, n := range opened {
		byKey[fmt.Sprint(n.def.Set, " ", n.def.URL)] = n
	}
	p := m.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	old := map[string]*node{}
	for _, n := range p.nodes {
		old[fmt.Sprint(n.def.Set, " ", n.def.URL)] = n
	}
	sets := map[int][]*node{}
	var all []*node
	for _, d := range defs {
		key := fmt.Sprint(d.Set, " ", d.URL)
		n, ok := old[key]
		if ok {
			delete(old, key)
			n.weight.Store(int64(d.Weight))
		} else if n = byKey[key]; n != nil {
			added = append(added, n)
		} else {
			continue
		}
		n.idx = len(sets[d.Set])
		sets[d.Set] = append(sets[d.Set], n)
		all = append(all, n)
	}
	for _, n := range old {
		removed = append(removed, n)
	}
	p.sets, p.nodes = sets, all
	return added, removed
}
