// Package topos is Kamailio's topos module: topology stripping with stored
// state. A request leaving this server carries only our Via, no
// Record-Route, and a Contact of ours (sip:atpsh-<id>@… towards the caller
// side, sip:btpsh-<id>@… towards the callee side); what is needed to put the
// stripped headers back — per dialog, and per request sent (branch) — is
// stored in memory or in Redis, and restored when replies and in-dialog
// requests come back. The script sees every message whole, as if topos were
// not there.
package topos

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/topoh"
	"github.com/luasbc/luasbc/modules/topoh/evcb"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "topos",
		Doc: "Topology stripping: Via, Record-Route and Contact of each side replaced by this server's, " +
			"restored from records kept in memory or Redis (shared by several nodes).",
		Params: []kemi.ParamDef{
			{Name: "storage", Default: "memory", Doc: "Where records live: memory (this node), redis (shared; redis_url). Kamailio's \"db\" is not available (use redis to share); \"htable\" means memory."},
			{Name: "db_url", Default: "", Doc: "Database URL of storage \"db\", which luasbc does not offer.", Ignored: true},
			{Name: "mask_callid", Default: 0, Doc: "1: mask the Call-ID towards the callee side with topoh's key (load topoh, use_mode: 1 for masking Call-IDs only)."},
			{Name: "sanity_checks", Default: 0, Doc: "1: received requests that fail the sanity module's default checks pass untouched."},
			{Name: "branch_expire", Default: 180, Doc: "Seconds a branch record (and a dialog not yet confirmed by a 2xx) lives."},
			{Name: "dialog_expire", Default: 10800, Doc: "Seconds a confirmed dialog record lives (not refreshed by in-dialog requests, except methods_update_time)."},
			{Name: "clean_interval", Default: 60, Doc: "Seconds between two removals of expired records (memory storage; Redis expires them itself)."},
			{Name: "event_callback", Default: "", Doc: "Lua function called with topos:msg-outgoing, topos:msg-sending, topos:msg-incoming, topos:msg-receiving; KSR.x.drop() in it skips topos for that message."},
			{Name: "event_mode", Default: 15, Doc: "Bitmask of the events run: 1 msg-outgoing, 2 msg-sending, 4 msg-incoming, 8 msg-receiving."},
			{Name: "contact_host", Default: "", Doc: "Host[:port] of the Contacts topos writes; default: our Record-Route address for each side."},
			{Name: "contact_mode", Default: 0, Doc: "Where the record key goes in our Contacts: 0 user part (atpsh-<id>), 1 URI parameter cparam_name (user part: the R-URI user towards the caller, the caller's Contact user towards the callee)."},
			{Name: "cparam_name", Default: "tps", Doc: "URI parameter of the key with contact_mode 1."},
			{Name: "xavu_cfg", Default: "", Doc: "XAVU root for contact_mode 2: luasbc has no $xavu.", Ignored: true},
			{Name: "xavu_field_a_contact", Default: "", Doc: "contact_mode 2 (not available).", Ignored: true},
			{Name: "xavu_field_b_contact", Default: "", Doc: "contact_mode 2 (not available).", Ignored: true},
			{Name: "xavu_field_contact_host", Default: "", Doc: "Contact host from an XAVU (not available: use contact_host).", Ignored: true},
			{Name: "xavu_field_a_contact_host", Default: "", Doc: "Not available: use contact_host.", Ignored: true},
			{Name: "xavu_field_b_contact_host", Default: "", Doc: "Not available: use contact_host.", Ignored: true},
			{Name: "rr_update", Default: 0, Doc: "Record-Route changes in re-INVITEs are not tracked: the route set of the initial request stays.", Ignored: true},
			{Name: "context", Default: "", Doc: "Namespace of the records (at most 12 characters); tps_set_context changes it per message."},
			{Name: "methods_nocontact", Default: "CANCEL,BYE,PRACK", Doc: "Methods whose requests and replies get no Contact of ours."},
			{Name: "methods_noinitial", Default: "", Doc: "Methods whose initial requests topos leaves alone."},
			{Name: "header_mode", Default: 0, Doc: "Bitmask: 1 one Via per header line, 2 one Record-Route per line, 4 one Route per line (else comma-joined) in restored messages."},
			{Name: "version_table", Default: 1, Doc: "Table version check of storage \"db\".", Ignored: true},
			{Name: "methods_update_time", Default: "SUBSCRIBE", Doc: "Methods whose 2xx make the dialog record live dialog_expire again."},
			{Name: "sn_refresh_topology", Default: 0, Doc: "Presence topology refresh: not implemented.", Ignored: true},
			{Name: "redis_url", Default: "", Doc: "luasbc: Redis URL of storage redis (else the global redis_url)."},
			{Name: "redis_prefix", Default: "luasbc:topos:", Doc: "luasbc: prefix of the Redis keys."},
			{Name: "redis_timeout_ms", Default: 200, Doc: "luasbc: longest wait for one Redis call; Redis down fails new dialogs at once (500)."},
			{Name: "max_records", Default: 1000000, Doc: "luasbc: most records (dialogs + branches) of the memory storage; when full new dialogs fail (500)."},
		},
		New: newTopos,
	})
}

// Topos is the configured module.
type Topos struct {
	env  *kemi.Env
	core *core.Core
	log  *zap.Logger

	storage       string
	redisURL      string
	redisPrefix   string
	redisTimeout  time.Duration
	maxRecords    int
	branchExpire  time.Duration
	dialogExpire  time.Duration
	cleanInterval time.Duration
	maskCID       bool
	sanity        bool
	contactHost   string
	contactMode   int
	cparam        string
	context       string
	headerMode    int
	noContact     map[string]bool
	noInitial     map[string]bool
	updateTime    map[string]bool
	store         Store
	ev            *evcb.Runner
	th            *topoh.Topoh
	outage        outageLog
	st            topoStats
}

type topoStats struct {
	dialogs, restoredReq, restoredRpl, unknown, storeErr, dropped, unrestored *stats.Counter
}

func newTopos(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	x := &Topos{env: env, core: env.Core, log: env.Log, maskCID: p.Bool("mask_callid"), sanity: p.Bool("sanity_checks"),
		contactHost: strings.TrimSpace(p.Str("contact_host")), contactMode: p.Int("contact_mode"),
		cparam: p.Str("cparam_name"), context: p.Str("context"), headerMode: p.Int("header_mode"),
		redisPrefix: p.Str("redis_prefix"), maxRecords: p.Int("max_records")}
	if x.log == nil {
		x.log = zap.NewNop()
	}
	x.storage = strings.ToLower(strings.TrimSpace(p.Str("storage")))
	switch x.storage {
	case "memory", "":
		x.storage = "memory"
	case "htable":
		x.log.Info("topos storage htable: records are kept in this node's memory")
		x.storage = "memory"
	case "redis":
		var global string
		if env.Engine != nil && env.Engine.Cfg != nil {
			global = env.Engine.Cfg.RedisURL
		}
		x.redisURL = backend.Resolve(p.Str("redis_url"), global)
		if x.redisURL == "" {
			return nil, errors.New("storage redis needs redis_url (module or global)")
		}
		if _, err := redis.ParseURL(x.redisURL); err != nil {
			return nil, fmt.Errorf("redis_url: %v", err)
		}
	case "db":
		return nil, errors.New(`storage "db" (SQL) is not available in luasbc: use "memory", or "redis" to share records between nodes`)
	default:
		return nil, fmt.Errorf("storage: unknown %q (want memory or redis)", x.storage)
	}
	secs := func(name string, lo, hi int) (time.Duration, error) {
		n := p.Int(name)
		if n < lo || n > hi {
			return 0, fmt.Errorf("%s: want %d..%d seconds, got %d", name, lo, hi, n)
		}
		return time.Duration(n) * time.Second, nil
	}
	var err error
	if x.branchExpire, err = secs("branch_expire", 1, 86400); err != nil {
		return nil, err
	}
	if x.dialogExpire, err = secs("dialog_expire", 1, 30*86400); err != nil {
		return nil, err
	}
	if x.cleanInterval, err = secs("clean_interval", 1, 3600); err != nil {
		return nil, err
	}
	if n := p.Int("redis_timeout_ms"); n < 1 || n > 10000 {
		return nil, fmt.Errorf("redis_timeout_ms: want 1..10000, got %d", n)
	} else {
		x.redisTimeout = time.Duration(n) * time.Millisecond
	}
	if x.maxRecords < 2 {
		return nil, fmt.Errorf("max_records: want at least 2, got %d", x.maxRecords)
	}
	switch x.contactMode {
	case 0:
	case 1:
		if !msg.IsToken(x.cparam) {
			return nil, fmt.Errorf("cparam_name: %q is not a parameter name", x.cparam)
		}
	case 2:
		return nil, errors.New("contact_mode 2 takes the Contact users from $xavu, which luasbc does not have: use 0 or 1")
	default:
		return nil, fmt.Errorf("contact_mode: want 0 or 1, got %d", x.contactMode)
	}
	if x.contactHost != "" {
		if _, ok := sipraw.ParseURI("sip:" + x.contactHost); !ok || strings.ContainsAny(x.contactHost, ";?@") {
			return nil, fmt.Errorf("contact_host: %q is not host[:port]", x.contactHost)
		}
	}
	if len(x.context) > 12 || (x.context != "" && !validContext(x.context)) {
		return nil, fmt.Errorf("context: %q must be at most 12 letters, digits, '-' or '_'", x.context)
	}
	if x.headerMode < 0 || x.headerMode > 7 {
		return nil, fmt.Errorf("header_mode: want a bitmask of 1, 2 and 4, got %d", x.headerMode)
	}
	if mode := p.Int("event_mode"); mode < 0 || mode > 15 {
		return nil, fmt.Errorf("event_mode: want a bitmask of 1, 2, 4 and 8, got %d", mode)
	}
	for name, dst := range map[string]*map[string]bool{"methods_nocontact": &x.noContact,
		"methods_noinitial": &x.noInitial, "methods_update_time": &x.updateTime} {
		m, err := sipraw.ParseMethods(p.Str(name))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		*dst = m
	}
	x.ev = evcb.New(env.Engine, p.Str("event_callback"), p.Int("event_mode"))
	x.st = topoStats{
		dialogs:     stats.New("topos", "dialogs", "dialogs whose topology was stripped"),
		restoredReq: stats.New("topos", "restored_requests", "in-dialog requests restored from a stored dialog"),
		restoredRpl: stats.New("topos", "restored_replies", "replies restored from a stored branch"),
		unknown:     stats.New("topos", "unknown_dialogs", "in-dialog requests for unknown or expired dialogs (481)"),
		storeErr:    stats.New("topos", "storage_errors", "messages that failed because the storage failed"),
		dropped:     stats.New("topos", "dropped_replies", "replies to stripped requests dropped: no branch record (expired, other context) or the storage failed"),
		unrestored:  stats.New("topos", "unknown_replies", "replies to requests topos did not strip (keepalives), passed as they are"),
	}
	x.outage.log = x.log
	return x, nil
}

// validContext accepts what may go into a record key.
func validContext(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// Start opens the storage and installs the filters.
func (x *Topos) Start() error {
	if x.maskCID {
		if x.env.Engine != nil {
			x.th, _ = x.env.Engine.Instance("topoh").(*topoh.Topoh)
		}
		if x.th == nil {
			return errors.New("mask_callid needs the topoh module (load it with use_mode: 1 to mask Call-IDs only)")
		}
	}
	switch x.storage {
	case "redis":
		rs, err := newRedisStore(x.redisURL, x.redisPrefix, x.redisTimeout, x.log)
		if err != nil {
			return fmt.Errorf("redis_url: %w", err)
		}
		rs.start()
		x.store = newCachedStore(rs, x.cleanInterval)
	default:
		ms := newMemStore(x.maxRecords, x.cleanInterval)
		x.store = ms
		stats.Gauge("topos", "memory_dialogs", func() int64 { d, _ := ms.count(); return int64(d) })
		stats.Gauge("topos", "memory_branches", func() int64 { _, b := ms.count(); return int64(b) })
	}
	if x.core != nil {
		x.core.ReceiveFilters = append(x.core.ReceiveFilters, x.received)
		x.core.SendFilters = append(x.core.SendFilters, x.sending)
	}
	return nil
}

// Stop closes the storage.
func (x *Topos) Stop() {
	if x.store != nil {
		x.store.Close()
	}
}

// extContext holds the context tps_set_context set for a message.
const extContext = "topos.ctx"

// Exports implements kemi.Instance.
func (x *Topos) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnStrInt("tps_set_context", "Set the record namespace for this message (\"\" resets it to the context parameter); call it in the request route, or in topos:msg-incoming / msg-receiving for the lookups of received messages. 1 ok, -1 not a valid name (at most 64 letters, digits, '-', '_').",
			func(c *kemi.Ctx, s string) int {
				if s != "" && (len(s) > 64 || !validContext(s)) {
					c.Logger().Error("tps_set_context: invalid context", zap.String("context", s))
					return -1
				}
				c.M.SetExt(extContext, s)
				return 1
			}),
	}
}

// contextOf is the namespace for records of a message: what tps_set_context
// set on it, else the context parameter.
func (x *Topos) contextOf(m *msg.Msg) string {
	if m != nil {
		if s, ok := m.GetExt(extContext).(string); ok && s != "" {
			return s
		}
	}
	return x.context
}

// outageLog logs storage failures once per outage (the Redis store logs its
// own transitions; this covers memory full and other errors).
type outageLog struct {
	log  *zap.Logger
	last atomic.Int64 // unix nanos of the last line
}

// note logs err at most once every 10 s.
func (o *outageLog) note(what string, err error) {
	if errors.Is(err, ErrUnavailable) {
		return // the Redis store logged the outage
	}
	now := time.Now().UnixNano()
	last := o.last.Load()
	if now-last < int64(10*time.Second) || !o.last.CompareAndSwap(last, now) {
		return
	}
	o.log.Error("topos: "+what+" failed", zap.Error(err))
}
