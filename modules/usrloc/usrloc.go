// Package usrloc is Kamailio's usrloc module: the location table that
// registrar saves REGISTER bindings into and looks them up from. It has no
// KSR functions of its own; registrar uses its Go API. Records live in
// memory (the default), in memory with a PostgreSQL location table behind it
// (db_mode 1 write-through, 2 write-back, 4 load only), in PostgreSQL only
// (db_mode 3), or in Redis (redis=1) so that several nodes share them.
package usrloc

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "usrloc",
		Doc: "Location table for registrar: memory, PostgreSQL (Kamailio's location table; db_mode 1/2/3/4) " +
			"or Redis shared by several nodes (redis=1). RPC ul.*.",
		Tables: []kemi.Table{{Name: "location", Version: 9, SQL: SchemaSQL}, {Name: "location_attrs", Version: 1, SQL: AttrsSchemaSQL}},
		Params: params,
		New:    newModule,
	})
}

// Module is a configured usrloc module.
type Module struct {
	env *kemi.Env
	log *zap.Logger
	s   settings
	dbh *health
	rh  *health

	mu        sync.Mutex
	domains   map[string]*Domain
	order     []*Domain
	started   bool
	pool      *pgxpool.Pool
	rcl       *redis.Client
	onExpired []func(d *Domain, c Contact)

	conns connIndex
	ka    kaState

	stop chan struct{}
	wg   sync.WaitGroup
}

// Exports implements kemi.Instance: usrloc has no KSR functions.
func (m *Module) Exports() []kemi.Export { return nil }

// UseDomain reports whether AoRs include the domain.
func (m *Module) UseDomain() bool { return m.s.useDomain }

// NatBFlag is the nat_bflag parameter (-1: not set).
func (m *Module) NatBFlag() int { return m.s.natBFlag }

// MatchingMode is the matching_mode parameter.
func (m *Module) MatchingMode() int { return m.s.matchingMode }

// CSeqDelay is the cseq_delay parameter in seconds.
func (m *Module) CSeqDelay() int { return m.s.cseqDelay }

// DBMode is the db_mode parameter.
func (m *Module) DBMode() int { return m.s.dbMode }

// OnExpired registers a function told about every contact the timer takes
// out (registrar runs usrloc:contact-expired from it). Call before Start.
func (m *Module) OnExpired(f func(d *Domain, c Contact)) {
	m.mu.Lock()
	m.onExpired = append(m.onExpired, f)
	m.mu.Unlock()
}

// Start connects the backend, creates (and loads) the preloaded tables and
// starts the timer. A database that cannot be read is a start-up error: the
// registrations it holds would otherwise be overwritten.
func (m *Module) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if m.s.dbMode != 0 {
		pool, err := backend.Postgres(ctx, m.s.dbURL)
		if err != nil {
			return err
		}
		m.pool = pool
	}
	if m.s.redis {
		if m.env.Core != nil {
			backend.SetLogger(m.log)
		}
		cl, err := newRedisClient(m.s.redisURL, m.s.redisTimeout)
		if err != nil {
			return fmt.Errorf("redis_url: %w", err)
		}
		m.rcl = cl
		pctx, pcancel := context.WithTimeout(ctx, m.s.redisTimeout+time.Second)
		if err := cl.Ping(pctx).Err(); err != nil {
			m.rh.fail(err)
		}
		pcancel()
	}
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	for _, name := range m.s.preload {
		if _, err := m.domain(ctx, name); err != nil {
			return err
		}
	}
	m.wg.Add(1)
	go m.timer()
	return nil
}

// Stop ends the timer, writes back what is pending and closes Redis.
func (m *Module) Stop() {
	select {
	case <-m.stop:
		return
	default:
		close(m.stop)
	}
	m.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range m.Domains() {
		if err := d.st.flush(ctx); err != nil {
			m.log.Error("usrloc: write-back at shutdown failed", zap.String("table", d.Name), zap.Error(err))
		}
		d.st.close()
	}
	if m.rcl != nil {
		_ = m.rcl.Close()
	}
}

// Domain returns the location table name, creating it on first use (and
// loading it from the database in db_mode 1, 2 and 4).
func (m *Module) Domain(name string) (*Domain, error) {
	m.mu.Lock()
	d := m.domains[name]
	m.mu.Unlock()
	if d != nil {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.domain(ctx, name)
}

// Lookup returns an existing location table, or nil.
func (m *Module) Lookup(name string) *Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.domains[name]
}

// Domains lists the location tables in creation order.
func (m *Module) Domains() []*Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Domain(nil), m.order...)
}

func (m *Module) domain(ctx context.Context, name string) (*Domain, error) {
	if err := checkTableName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.domains[name]; d != nil {
		return d, nil
	}
	if !m.started {
		return nil, fmt.Errorf("usrloc is not started")
	}
	st, err := m.newStore(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("location table %s: %w", name, err)
	}
	d := newDomain(m, name, st)
	m.domains[name] = d
	m.order = append(m.order, d)
	return d, nil
}

// newStore builds a table's store for the configured mode.
func (m *Module) newStore(ctx context.Context, name string) (store, error) {
	s := m.s
	if s.redis {
		grace := 2*s.interval + 10*time.Second
		return newRedisStore(m.rcl, s.redisPrefix, name, s.redisTimeout, grace, s.descTime, m.rh), nil
	}
	if s.dbMode == 0 {
		return newMemStore(s.hashSize, nil, false, s.descTime, m.dbh), nil
	}
	db := newPGTable(m.pool, name, s.cols, s.useDomain, s.bigint)
	if s.dbMode == 3 {
		return &pgOnlyStore{db: db, table: name, descTime: s.descTime, dbh: m.dbh, rmDelay: s.rmExpiredDelay}, nil
	}
	var persist *pgTable
	if s.dbMode == 1 || s.dbMode == 2 {
		persist = db
	}
	ms := newMemStore(s.hashSize, persist, s.dbMode == 2, s.descTime, m.dbh)
	if s.dbLoad || s.dbMode == 4 {
		recs, err := db.loadAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading from PostgreSQL: %w", err)
		}
		stale := m.filterLoaded(recs)
		if len(stale) > 0 && persist != nil {
			if err := db.apply(ctx, nil, stale); err != nil {
				m.log.Warn("usrloc: could not delete stale rows at load", zap.String("table", name), zap.Error(err))
			}
		}
		ms.load(recs)
		users, contacts := ms.counts()
		m.log.Info("usrloc: location table loaded", zap.String("table", name), zap.Int64("aors", users),
			zap.Int64("contacts", contacts), zap.Int("dropped", len(stale)))
	}
	return ms, nil
}

// filterLoaded drops from loaded records what must not come back: expired
// contacts, and those db_clean_tcp or skip_remote_socket exclude. It returns
// the ruids dropped.
func (m *Module) filterLoaded(recs map[string][]Contact) []string {
	now := unixNow()
	var dropped []string
	for aor, cs := range recs {
		keep := cs[:0]
		for _, c := range cs {
			drop := !c.Valid(now)
			if m.s.dbCleanTCP && streamSocket(c.Socket) {
				drop = true
			}
			if m.s.skipRemoteSocket && c.Socket != "" && !m.ownSocket(c.Socket) {
				drop = true
			}
			if drop {
				dropped = append(dropped, c.Ruid)
				continue
			}
			keep = append(keep, c)
		}
		if len(keep) == 0 {
			delete(recs, aor)
		} else {
			recs[aor] = keep
		}
	}
	return dropped
}

func streamSocket(sock string) bool {
	proto, _, _ := strings.Cut(strings.ToLower(sock), ":")
	return proto == "tcp" || proto == "tls" || proto == "ws" || proto == "wss"
}

func (m *Module) ownSocket(sock string) bool {
	if m.env.Core == nil || m.env.Core.TP == nil {
		return true
	}
	for _, s := range m.env.Core.TP.Sockets {
		if strings.EqualFold(s.Name, sock) {
			return true
		}
	}
	return false
}

func (m *Module) registeredUsers() int64 {
	var n int64
	for _, d := range m.Domains() {
		u, _ := d.st.counts()
		n += u
	}
	return n
}
