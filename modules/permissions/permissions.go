package permissions

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/regex"
	"github.com/luasbc/luasbc/kemi"
)

// Permissions is a configured permissions module.
type Permissions struct {
	log *zap.Logger
	cfg *config.Config // for relative paths; nil when listing the API

	checkAllBranches          bool
	allowSuffix, denySuffix   string
	defaultAllow, defaultDeny string // resolved paths; "" when not loaded
	peerTagAVP                string
	peerTagAll                bool // peer_tag_mode 1
	longestPrefix             bool // subnet_match_mode 1
	maxSubnets                int
	loadMask                  int
	reloadDelta               time.Duration
	dbURL                     string
	dbMode                    int
	cols                      pgColumns

	addrSrc  addressSource
	trustSrc trustedSource
	// trustQuery is set for db_mode 0: allow_trusted asks the database.
	trustQuery trustedQuerier
	patterns   *regex.Cache[*regexp.Regexp] // db_mode 0 compiled patterns

	addr    atomic.Pointer[addrTable]
	trusted atomic.Pointer[trustedTable] // nil with db_mode 0
	rules   *ruleCache

	reloadMu   sync.Mutex
	lastReload time.Time
}

func newPermissions(env *kemi.Env) (kemi.Instance, error) {
	p := &Permissions{log: env.Log, rules: newRuleCache(env.Log)}
	if p.log == nil {
		p.log = zap.NewNop()
		p.rules = newRuleCache(p.log)
	}
	switch {
	case env.Core != nil:
		p.cfg = env.Core.Cfg
	case env.Engine != nil:
		p.cfg = env.Engine.Cfg
	}
	if err := p.configure(env); err != nil {
		return nil, err
	}
	p.addr.Store(newAddrTable(nil))
	p.trusted.Store(newTrustedTable(nil))
	// Files are read here rather than in Start so that sbc --check reports
	// a bad address file, trusted file or rule file; the database is
	// reached in Start.
	if err := p.loadFiles(env); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Permissions) configure(env *kemi.Env) error {
	ps := env.Params
	p.checkAllBranches = ps.Bool("check_all_branches")
	p.allowSuffix, p.denySuffix = ps.Str("allow_suffix"), ps.Str("deny_suffix")
	p.peerTagAll = ps.Int("peer_tag_mode") == 1
	p.longestPrefix = ps.Int("subnet_match_mode") == 1
	p.maxSubnets = ps.Int("max_subnets")
	p.loadMask = ps.Int("load_backends")
	p.reloadDelta = time.Duration(ps.Int("reload_delta")) * time.Second
	p.dbMode = ps.Int("db_mode")
	for _, c := range []struct {
		name string
		v    int
		max  int
	}{{"peer_tag_mode", ps.Int("peer_tag_mode"), 1}, {"subnet_match_mode", ps.Int("subnet_match_mode"), 1},
		{"db_mode", p.dbMode, 1}, {"check_all_branches", ps.Int("check_all_branches"), 1}} {
		if c.v < 0 || c.v > c.max {
			return fmt.Errorf("%s %d: want 0 or 1", c.name, c.v)
		}
	}
	if ps.Int("reload_delta") < 0 {
		return fmt.Errorf("reload_delta %d: must not be negative", ps.Int("reload_delta"))
	}
	if p.loadMask < 0 {
		return fmt.Errorf("load_backends %d: must not be negative", p.loadMask)
	}
	if err := p.configureTagAVP(env, ps.Str("peer_tag_avp")); err != nil {
		return err
	}
	p.cols = pgColumns{
		addressTable: ps.Str("address_table"), grp: ps.Str("grp_col"), ipAddr: ps.Str("ip_addr_col"),
		mask: ps.Str("mask_col"), port: ps.Str("port_col"), trustedTable: ps.Str("trusted_table"),
		src: ps.Str("source_col"), proto: ps.Str("proto_col"), from: ps.Str("from_col"), ruri: ps.Str("ruri_col"),
		priority: ps.Str("priority_col"), tag: ps.Str("tag_col"),
	}
	for name, v := range map[string]string{"address_table": p.cols.addressTable, "grp_col": p.cols.grp,
		"ip_addr_col": p.cols.ipAddr, "mask_col": p.cols.mask, "port_col": p.cols.port, "trusted_table": p.cols.trustedTable,
		"source_col": p.cols.src, "proto_col": p.cols.proto, "from_col": p.cols.from, "ruri_col": p.cols.ruri,
		"priority_col": p.cols.priority, "tag_col": p.cols.tag} {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("%s must not be empty", name)
		}
	}
	global := ""
	if p.cfg != nil {
		global = p.cfg.DBURL
	}
	p.dbURL = backend.Resolve(ps.Str("db_url"), global)
	return nil
}

// configureTagAVP checks peer_tag_avp: an AVP, as in Kamailio.
func (p *Permissions) configureTagAVP(env *kemi.Env, avp string) error {
	avp = strings.TrimSpace(avp)
	if avp == "" {
		return nil
	}
	if !strings.HasPrefix(avp, "$avp(") {
		return fmt.Errorf("peer_tag_avp %q: want an AVP such as $avp(peer_tag)", avp)
	}
	if env.Engine != nil {
		spec, err := env.Engine.ParsePV(avp)
		if err != nil {
			return fmt.Errorf("peer_tag_avp: %w", err)
		}
		if spec.Class == nil || spec.Class.Set == nil {
			return fmt.Errorf("peer_tag_avp %q: not assignable", avp)
		}
	}
	p.peerTagAVP = avp
	return nil
}

// path resolves a file name relative to the config file's directory.
func (p *Permissions) path(name string) string {
	if p.cfg == nil {
		return name
	}
	return p.cfg.Path(name)
}

// loadFiles picks the file sources and loads them, and the default rule
// files. With no real configuration behind it (the API being listed) only
// explicitly named table files are read.
func (p *Permissions) loadFiles(env *kemi.Env) error {
	ps := env.Params
	p.addrSrc, p.trustSrc = noSource{}, noSource{}
	ctx := context.Background()
	if f := ps.Str("address_file"); f != "" && p.loadMask&loadAddress != 0 {
		p.addrSrc = fileSource{p.path(f)}
		if err := p.reloadAddress(ctx); err != nil {
			return fmt.Errorf("address_file: %w", err)
		}
	}
	if f := ps.Str("trusted_file"); f != "" && p.loadMask&loadTrusted != 0 {
		p.trustSrc = fileSource{p.path(f)}
		if err := p.reloadTrusted(ctx); err != nil {
			return fmt.Errorf("trusted_file: %w", err)
		}
	}
	real := env.Core != nil || (p.cfg != nil && p.cfg.File != "")
	if !real {
		return nil
	}
	if p.loadMask&loadAllow != 0 {
		p.defaultAllow = p.path(ps.Str("default_allow_file"))
		if _, err := p.rules.get(p.defaultAllow); err != nil {
			return fmt.Errorf("default_allow_file: %w", err)
		}
	}
	if p.loadMask&loadDeny != 0 {
		p.defaultDeny = p.path(ps.Str("default_deny_file"))
		if _, err := p.rules.get(p.defaultDeny); err != nil {
			return fmt.Errorf("default_deny_file: %w", err)
		}
	}
	return nil
}

// usesDB reports whether a table comes from the database.
func (p *Permissions) usesDB() (addr, trusted bool) {
	_, addrFile := p.addrSrc.(fileSource)
	_, trustFile := p.trustSrc.(fileSource)
	addr = !addrFile && p.loadMask&loadAddress != 0 && p.dbURL != ""
	trusted = !trustFile && p.loadMask&loadTrusted != 0 && p.dbURL != ""
	return addr, trusted
}

// Start connects to the database when a table comes from it and loads it;
// any failure stops start-up with the reason.
func (p *Permissions) Start() error {
	useAddr, useTrusted := p.usesDB()
	if !useAddr && !useTrusted {
		return nil
	}
	// No RPC reload may run while the sources are being switched.
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := backend.Postgres(ctx, p.dbURL)
	if err != nil {
		return err
	}
	src := &pgSource{pool: pool, cols: p.cols, host: pool.Config().ConnConfig.Host + "/" + pool.Config().ConnConfig.Database}
	if useAddr {
		p.addrSrc = src
		if err := p.reloadAddress(ctx); err != nil {
			return fmt.Errorf("address table: %w", err)
		}
	}
	if useTrusted {
		p.trustSrc = src
		if p.dbMode == 0 {
			// Fail now, not on the first call, when the table is missing.
			if _, err := src.queryTrusted(ctx, "0.0.0.0"); err != nil {
				return fmt.Errorf("trusted table: %w", err)
			}
			p.trustQuery = src
			p.trusted.Store(nil)
			p.patterns = regex.NewCache[*regexp.Regexp](1024)
		} else if err := p.reloadTrusted(ctx); err != nil {
			return fmt.Errorf("trusted table: %w", err)
		}
	}
	return nil
}

// Stop has nothing to release: the database pool is shared and closed by
// the server.
func (p *Permissions) Stop() {}
