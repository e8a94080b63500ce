// Package htable is Kamailio's htable module: named hash tables of string
// or integer items with auto-expiry, reachable from Lua as KSR.htable.*
// and the $sht(...) pseudo-variables, loaded from PostgreSQL (Kamailio's
// htable table) and, per table, shared between nodes through Redis.
package htable

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name:   "htable",
		Tables: []kemi.Table{{Name: "htable", Version: 2, SQL: SchemaSQL}},
		Doc: "Named hash tables of string/integer items with auto-expiry ($sht, KSR.htable.*), " +
			"loaded from PostgreSQL, optionally shared between nodes through Redis (redis=1).",
		Params: []kemi.ParamDef{
			{Name: "htable", Doc: `Table definition "name=>size=N;autoexpire=S;..." (repeat as a YAML list).`},
			{Name: "db_url", Default: "", Doc: "PostgreSQL URL for dbtable tables (else the global db_url)."},
			{Name: "key_name_column", Default: "key_name", Doc: "Column of the item name."},
			{Name: "key_type_column", Default: "key_type", Doc: "Column of the key type (0 simple, 1 array)."},
			{Name: "value_type_column", Default: "value_type", Doc: "Column of the value type (0 string, 1 integer)."},
			{Name: "key_value_column", Default: "key_value", Doc: "Column of the value."},
			{Name: "expires_column", Default: "expires", Doc: "Column of the absolute expiry (with db_expires=1)."},
			{Name: "array_size_suffix", Default: "::size", Doc: "Suffix of the item holding an array's length."},
			{Name: "fetch_rows", Default: 100, Ignored: true, Doc: "Rows are streamed from PostgreSQL; no effect."},
			{Name: "timer_interval", Default: 20, Doc: "Seconds between two scans for expired items."},
			{Name: "db_expires", Default: 0, Doc: "1: load and store the expires column (tables with autoexpire)."},
			{Name: "enable_dmq", Default: 0, Ignored: true, Doc: "No DMQ here: share a table between nodes with redis=1."},
			{Name: "dmq_init_sync", Default: 0, Ignored: true, Doc: "No DMQ here."},
			{Name: "timer_procs", Default: 0, Ignored: true, Doc: "One expiry goroutine does the work."},
			{Name: "event_callback", Default: "", Doc: "Lua function called with htable:mod-init, htable:expired:<table>, htable:reloaded:<table>."},
			{Name: "event_callback_mode", Default: 0, Doc: "0 or 1; both run htable:mod-init once at start, when the script is loaded."},
			{Name: "redis_url", Default: "", Doc: "luasbc: Redis URL for redis=1 tables (else the global redis_url)."},
			{Name: "redis_prefix", Default: "luasbc:htable:", Doc: "luasbc: prefix of the Redis keys (<prefix><table>:<name>)."},
			{Name: "redis_timeout_ms", Default: 100, Doc: "luasbc: longest wait for Redis before an operation uses the local copy."},
			{Name: "max_items", Default: 1000000, Doc: "luasbc: default bound on the items of a table (attribute max_items overrides)."},
		},
		New: newModule,
	})
}

// Module is a configured htable module.
type Module struct {
	env      *kemi.Env
	log      *zap.Logger
	tables   map[string]*Table
	order    []*Table // definition order (listTables)
	cols     dbColumns
	dbURL    string
	redisURL string
	prefix   string
	rtimeout time.Duration
	interval time.Duration
	callback string

	link *link
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex // one database reload or store at a time
}

func newModule(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	defs, err := ParseDefs(p.Strs("htable"))
	if err != nil {
		return nil, err
	}
	m := &Module{env: env, log: env.Log, tables: map[string]*Table{}, prefix: p.Str("redis_prefix"),
		callback: p.Str("event_callback"), stop: make(chan struct{}),
		cols: dbColumns{name: p.Str("key_name_column"), ktype: p.Str("key_type_column"), vtype: p.Str("value_type_column"),
			value: p.Str("key_value_column"), expires: p.Str("expires_column"), sizeSuffix: p.Str("array_size_suffix"),
			expiresFlag: p.Bool("db_expires")}}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	for name, col := range map[string]string{"key_name_column": m.cols.name, "key_type_column": m.cols.ktype,
		"value_type_column": m.cols.vtype, "key_value_column": m.cols.value, "expires_column": m.cols.expires} {
		if !isIdent(col, false) {
			return nil, fmt.Errorf("%s: %q is not a column name", name, col)
		}
	}
	if m.cols.sizeSuffix == "" {
		m.cols.sizeSuffix = "::size"
	}
	if n := p.Int("timer_interval"); n < 1 || n > 3600 {
		return nil, fmt.Errorf("timer_interval: want 1..3600 seconds, got %d", n)
	} else {
		m.interval = time.Duration(n) * time.Second
	}
	if n := p.Int("redis_timeout_ms"); n < 1 || n > 10000 {
		return nil, fmt.Errorf("redis_timeout_ms: want 1..10000, got %d", n)
	} else {
		m.rtimeout = time.Duration(n) * time.Millisecond
	}
	if mode := p.Int("event_callback_mode"); mode != 0 && mode != 1 {
		return nil, fmt.Errorf("event_callback_mode: want 0 or 1, got %d", mode)
	}
	maxItems := p.Int("max_items")
	if maxItems < 1 {
		return nil, fmt.Errorf("max_items: want at least 1, got %d", maxItems)
	}
	// A lock held longer than a script callback can run was abandoned.
	lease := 200 * time.Millisecond
	var globalDB, globalRedis string
	if env.Engine != nil && env.Engine.Cfg != nil {
		lease = max(lease, 2*time.Duration(env.Engine.Cfg.Lua.TimeoutMS)*time.Millisecond)
		globalDB, globalRedis = env.Engine.Cfg.DBURL, env.Engine.Cfg.RedisURL
	}
	m.dbURL = backend.Resolve(p.Str("db_url"), globalDB)
	m.redisURL = backend.Resolve(p.Str("redis_url"), globalRedis)
	for _, d := range defs {
		if d.DBTable != "" && m.dbURL == "" {
			return nil, fmt.Errorf("htable %q: dbtable=%s needs db_url (module or global)", d.Name, d.DBTable)
		}
		if d.Redis {
			if m.redisURL == "" {
				return nil, fmt.Errorf("htable %q: redis=1 needs redis_url (module or global)", d.Name)
			}
			if _, err := redis.ParseURL(m.redisURL); err != nil {
				return nil, fmt.Errorf("htable %q: redis_url: %v", d.Name, err)
			}
		}
		if d.DMQReplicate {
			m.log.Info("htable dmqreplicate has no effect: share the table through Redis with redis=1", zap.String("htable", d.Name))
		}
		t := newTable(d, maxItems, m.log, lease)
		m.tables[d.Name] = t
		m.order = append(m.order, t)
		stats.Gauge("htable", statName(d.Name)+"_items", func() int64 { return t.mem.n.Load() })
	}
	return m, nil
}

// Table returns a table by name (nil if not defined), for other modules.
func (m *Module) Table(name string) *Table { return m.tables[name] }

// Start connects Redis (not fatal when down), loads the dbtable tables
// (fatal on error), runs htable:mod-init and starts the expiry timer.
func (m *Module) Start() error {
	var redisTables []*Table
	for _, t := range m.order {
		if t.Def.Redis {
			redisTables = append(redisTables, t)
		}
	}
	if len(redisTables) > 0 {
		l, err := newLink(m.redisURL, m.rtimeout, m.log)
		if err != nil {
			return fmt.Errorf("redis_url: %w", err)
		}
		for _, t := range redisTables {
			t.red = &redisStore{link: l, prefix: m.prefix + t.Def.Name + ":", local: t.mem, max: int(t.mem.max)}
			l.tables = append(l.tables, t.red)
		}
		m.link = l
		l.start()
	}
	for _, t := range m.order {
		if t.Def.DBTable == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := m.reload(ctx, t)
		cancel()
		if err != nil {
			return fmt.Errorf("htable %q: loading %s: %w", t.Def.Name, t.Def.DBTable, err)
		}
	}
	m.event("htable:mod-init", nil)
	m.wg.Add(1)
	go m.timer()
	return nil
}

// Stop ends the timer, writes dbmode=1 tables back and closes Redis.
func (m *Module) Stop() {
	select {
	case <-m.stop:
		return
	default:
		close(m.stop)
	}
	m.wg.Wait()
	for _, t := range m.order {
		if t.Def.DBMode != 1 || len(t.Def.Cols) > 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := m.store(ctx, t); err != nil {
			m.log.Error("htable write-back to the database failed", zap.String("htable", t.Def.Name), zap.Error(err))
		} else {
			m.log.Info("htable written back to the database", zap.String("htable", t.Def.Name), zap.String("dbtable", t.Def.DBTable))
		}
		cancel()
	}
	if m.link != nil {
		m.link.close()
	}
}

// reload replaces a table's content with its database rows; on error the
// current content stays.
func (m *Module) reload(ctx context.Context, t *Table) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	pool, err := backend.Postgres(ctx, m.dbURL)
	if err != nil {
		return err
	}
	items, err := loadDB(ctx, pool, t.Def, m.cols, t.mem.max)
	if err != nil {
		return err
	}
	if err := t.mem.replaceAll(items); err != nil {
		return err
	}
	t.lastReload.Store(nowNano())
	m.log.Info("htable loaded from the database", zap.String("htable", t.Def.Name),
		zap.String("dbtable", t.Def.DBTable), zap.Int("items", len(items)))
	return nil
}

// store writes a table's live items to its database table.
func (m *Module) store(ctx context.Context, t *Table) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	pool, err := backend.Postgres(ctx, m.dbURL)
	if err != nil {
		return err
	}
	var items []Item
	t.Walk(ctx, func(it Item) bool {
		items = append(items, it)
		return true
	})
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return storeDB(ctx, pool, t.Def, m.cols, items)
}
