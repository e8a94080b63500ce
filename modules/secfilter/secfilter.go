// Package secfilter is Kamailio's secfilter module: block and allow lists of
// user agents, source addresses, countries, domains and users, a blacklist
// of destination numbers, and a test for SQL injection in header values.
// The lists come from Kamailio's secfilter table (PostgreSQL, or a db_text
// file); the country of the source address can come from a GeoIP2 database.
package secfilter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "secfilter",
		Tables: []kemi.Table{{Name: "secfilter", Version: 1, SQL: `CREATE TABLE secfilter (
    id SERIAL PRIMARY KEY NOT NULL,
    action SMALLINT DEFAULT 0 NOT NULL,
    type SMALLINT DEFAULT 0 NOT NULL,
    data VARCHAR(64) DEFAULT '' NOT NULL
);
CREATE INDEX secfilter_secfilter_idx ON secfilter (action, type, data);`}},
		Doc: "Block/allow lists of user agents, IPs, countries, domains and users, a destination blacklist, and SQL-injection checks on headers.",
		Params: []kemi.ParamDef{
			{Name: "db_url", Default: "", Doc: "Where the secfilter table is: postgres://… (a module value overrides the global db_url) or text://DIR for the db_text file DIR/<table_name>. Empty (and no global db_url): the lists start empty."},
			{Name: "table_name", Default: "secfilter", Doc: "Table (or db_text file) name."},
			{Name: "action_col", Default: "action", Doc: "Column with the list: 0 blacklist, 1 whitelist, 2 destination blacklist."},
			{Name: "type_col", Default: "type", Doc: "Column with the value type: 0 user agent (or number for action 2), 1 country, 2 domain, 3 IP, 4 user."},
			{Name: "data_col", Default: "data", Doc: "Column with the value."},
			{Name: "dst_exact_match", Default: 1, Doc: "1: secf_check_dst blocks a number equal to a listed one; 0: a number starting with a listed one."},
			{Name: "reload_delta", Default: 5, Doc: "Seconds that must pass between two secfilter.reload calls (0: no limit)."},
			{Name: "cleanup_interval", Default: 60, Ignored: true, Doc: "Kamailio frees the previous lists after this many seconds; here the garbage collector does."},
			{Name: "geoip2_path", Default: "", Doc: "luasbc addition: a GeoIP2/GeoLite2 Country or City .mmdb file; secf_check_country(\"\") then looks up the country of the source address. Relative to the config file."},
		},
		New: newSecfilter,
	})
}

// SecFilter is one configured secfilter module.
type SecFilter struct {
	log        *zap.Logger
	src        Source // nil: no store, RPC-filled lists only
	geoPath    string
	exactDst   bool
	reloadGap  time.Duration
	lists      atomic.Pointer[Lists]
	geo        atomic.Pointer[geoDB]
	stats      counters
	registered bool

	mu         sync.Mutex // serialises reload and the RPC adds
	lastReload time.Time
}

func newSecfilter(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	s := &SecFilter{
		log:       env.Log,
		exactDst:  p.Int("dst_exact_match") != 0,
		reloadGap: time.Duration(p.Int("reload_delta")) * time.Second,
	}
	if s.reloadGap < 0 {
		s.reloadGap = 5 * time.Second // as Kamailio does for a negative value
	}
	cols := columns{table: p.Str("table_name"), action: p.Str("action_col"), typ: p.Str("type_col"), data: p.Str("data_col")}
	for name, v := range map[string]string{"table_name": cols.table, "action_col": cols.action, "type_col": cols.typ, "data_col": cols.data} {
		if v == "" {
			return nil, fmt.Errorf("%s must not be empty", name)
		}
	}
	url := p.Str("db_url")
	var resolve func(string) string
	if env.Core != nil {
		url = backend.Resolve(url, env.Core.Cfg.DBURL)
		resolve = env.Core.Cfg.Path
	}
	src, err := newSource(url, cols, resolve)
	if err != nil {
		return nil, err
	}
	s.src = src
	s.geoPath = p.Str("geoip2_path")
	if s.geoPath != "" && resolve != nil {
		s.geoPath = resolve(s.geoPath)
	}
	empty, _ := Compile(nil)
	s.lists.Store(empty)
	return s, nil
}

// Start loads the lists and the GeoIP database; either failing stops the
// server from starting, with the reason.
func (s *SecFilter) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, g, err := s.load(ctx)
	if err != nil {
		return err
	}
	s.lists.Store(l)
	if g != nil {
		s.geo.Store(g)
	}
	if s.src == nil {
		s.log.Info("secfilter has no table (db_url unset): lists start empty, fill them with secfilter.add_*")
	} else {
		s.log.Info("secfilter lists loaded", zap.Stringer("source", s.src), zap.Int("rules", len(l.rules)))
	}
	if !s.registered {
		s.stats.register()
		s.registered = true
	}
	return nil
}

// load reads a new generation of lists and, when configured, the GeoIP
// database, without installing them.
func (s *SecFilter) load(ctx context.Context) (*Lists, *geoDB, error) {
	// Without a table the lists are what the RPC commands put there: keep them.
	l := s.lists.Load()
	if s.src != nil {
		rules, err := s.src.Load(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("loading %s: %w", s.src, err)
		}
		if l, err = Compile(rules); err != nil {
			return nil, nil, fmt.Errorf("loading %s: %w", s.src, err)
		}
	}
	var (
		g   *geoDB
		err error
	)
	if s.geoPath != "" {
		if g, err = openGeoDB(s.geoPath); err != nil {
			return nil, nil, err
		}
	}
	return l, g, nil
}

var errReloadTooSoon = errors.New("ongoing reload")

// Reload replaces the lists (and the GeoIP database) from the store. On any
// error the current ones stay. Entries added over RPC since the last load
// are dropped, as in Kamailio: the table is the source of truth (without a
// table they stay, and only the GeoIP database is re-read).
func (s *SecFilter) Reload(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !s.lastReload.IsZero() && now.Sub(s.lastReload) < s.reloadGap {
		return 0, errReloadTooSoon
	}
	s.lastReload = now
	l, g, err := s.load(ctx)
	if err != nil {
		s.log.Error("secfilter reload failed, keeping the current lists", zap.Error(err))
		return 0, err
	}
	s.lists.Store(l)
	if g != nil {
		s.geo.Store(g)
	}
	s.log.Info("secfilter lists reloaded", zap.Int("rules", len(l.rules)))
	return len(l.rules), nil
}

// Add appends one rule to the running lists (not to the store).
func (s *SecFilter) Add(r Rule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lists.Load().With(r)
	if err != nil {
		return err
	}
	s.lists.Store(n)
	return nil
}

// Remove deletes the rules equal to r from the running lists.
func (s *SecFilter) Remove(r Rule) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, removed, err := s.lists.Load().Without(r)
	if err != nil {
		return 0, err
	}
	if removed > 0 {
		s.lists.Store(n)
	}
	return removed, nil
}

// Lists returns the current generation.
func (s *SecFilter) Lists() *Lists { return s.lists.Load() }
