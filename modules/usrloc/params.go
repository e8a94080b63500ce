package usrloc

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

// params are Kamailio's usrloc modparams, and luasbc's Redis ones.
var params = []kemi.ParamDef{
	{Name: "nat_bflag", Default: -1, Doc: "Branch flag marking NATed contacts (-1: not set); saved in cflags like every branch flag."},
	{Name: "user_column", Default: "username", Doc: "Column of the user part of the AoR."},
	{Name: "domain_column", Default: "domain", Doc: "Column of the domain part of the AoR (use_domain=1)."},
	{Name: "contact_column", Default: "contact", Doc: "Column of the contact URI."},
	{Name: "expires_column", Default: "expires", Doc: "Column of the absolute expiry."},
	{Name: "q_column", Default: "q", Doc: "Column of the q value."},
	{Name: "callid_column", Default: "callid", Doc: "Column of the Call-ID."},
	{Name: "cseq_column", Default: "cseq", Doc: "Column of the CSeq number."},
	{Name: "methods_column", Default: "methods", Doc: "Column of the supported methods mask."},
	{Name: "flags_column", Default: "flags", Doc: "Column of the internal flags."},
	{Name: "cflags_column", Default: "cflags", Doc: "Column of the branch flags."},
	{Name: "user_agent_column", Default: "user_agent", Doc: "Column of the User-Agent."},
	{Name: "received_column", Default: "received", Doc: "Column of the source address (received)."},
	{Name: "socket_column", Default: "socket", Doc: "Column of the local socket."},
	{Name: "path_column", Default: "path", Doc: "Column of the Path vector."},
	{Name: "ruid_column", Default: "ruid", Doc: "Column of the record unique id."},
	{Name: "instance_column", Default: "instance", Doc: "Column of +sip.instance."},
	{Name: "reg_id_column", Default: "reg_id", Doc: "Column of reg-id."},
	{Name: "server_id_column", Default: "server_id", Doc: "Column of the server id."},
	{Name: "connection_id_column", Default: "connection_id", Doc: "Column of the stream connection id."},
	{Name: "keepalive_column", Default: "keepalive", Doc: "Column of the keepalive state."},
	{Name: "partition_column", Default: "partition", Doc: "Column of the partition id."},
	{Name: "use_domain", Default: 0, Doc: "1: the AoR is user@domain; 0: the user part alone."},
	{Name: "desc_time_order", Default: 0, Doc: "1: contacts ordered by last change, newest first; 0: by q."},
	{Name: "timer_interval", Default: 60, Doc: "Seconds between two runs of the expiry (and write-back) timer."},
	{Name: "db_url", Default: "", Doc: "PostgreSQL URL (else the global db_url)."},
	{Name: "db_mode", Default: 0, Doc: "0 memory only; 1 write-through; 2 write-back; 3 database only; 4 load at start, then memory only."},
	{Name: "db_load", Default: 1, Doc: "0: do not load the table at start (db_mode 1 and 2)."},
	{Name: "db_insert_update", Default: 0, Ignored: true, Doc: "Writes are always insert-or-update by ruid."},
	{Name: "matching_mode", Default: 0, Doc: "Contact matching: 0 contact URI; 1 contact and Call-ID; 2 contact and Path; 3 Call-ID."},
	{Name: "cseq_delay", Default: 20, Doc: "Seconds during which a REGISTER with the same Call-ID and CSeq is taken as a retransmission."},
	{Name: "fetch_rows", Default: 2000, Ignored: true, Doc: "Rows are streamed from PostgreSQL."},
	{Name: "hash_size", Default: 10, Doc: "The memory table has 2^hash_size slots (1..16)."},
	{Name: "preload", Doc: "Location tables created (and loaded) at start; others are created on first use. With a backend (db_mode, redis) the default is \"location\"."},
	{Name: "db_update_as_insert", Default: 0, Ignored: true, Doc: "Writes are always insert-or-update by ruid."},
	{Name: "db_check_update", Default: 0, Ignored: true, Doc: "Writes are always insert-or-update by ruid."},
	{Name: "timer_procs", Default: 0, Ignored: true, Doc: "One timer goroutine does the work."},
	{Name: "xavp_contact", Default: "", Ignored: true, Doc: "No per-contact xavps in luasbc."},
	{Name: "db_ops_ruid", Default: 1, Ignored: true, Doc: "Updates and deletes always go by ruid."},
	{Name: "handle_lost_tcp", Default: 0, Doc: "1: remove the contacts registered over a TCP/TLS/WS connection when it closes."},
	{Name: "close_expired_tcp", Default: 0, Ignored: true, Doc: "Connections are closed by their own lifetime (tcp_connection_lifetime)."},
	{Name: "expires_type", Default: 0, Doc: "1: expires and last_modified are BIGINT unix times; 0: TIMESTAMP."},
	{Name: "db_raw_fetch_type", Default: 0, Ignored: true, Doc: "No raw queries."},
	{Name: "db_insert_null", Default: 0, Ignored: true, Doc: "Every column is written."},
	{Name: "skip_remote_socket", Default: 0, Doc: "1: at load, skip records whose socket is not one of ours."},
	{Name: "db_timer_clean", Default: 0, Doc: "1: the timer also deletes expired rows left in the table (db_mode 1 and 2)."},
	{Name: "rm_expired_delay", Default: 0, Doc: "db_mode 3: seconds an expired row stays before the timer deletes it."},
	{Name: "server_id_filter", Default: 0, Ignored: true, Doc: "No server_id here: share a table between nodes with db_mode 3 or redis=1."},
	{Name: "version_table", Default: 1, Ignored: true, Doc: "Table versions are checked by `sbcctl db` (dbschema)."},
	{Name: "ka_mode", Default: 0, Ignored: true, Doc: "usrloc keepalives are not implemented; use nathelper pings."},
	{Name: "ka_method", Default: "OPTIONS", Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "ka_from", Default: "sip:server@kamailio.org", Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "ka_domain", Default: "kamailio.org", Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "ka_filter", Default: 0, Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "ka_timeout", Default: 0, Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "ka_loglevel", Default: 255, Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "ka_logmsg", Default: " to-uri: [$tu] remote-addr: [$sas]", Ignored: true, Doc: "usrloc keepalives are not implemented."},
	{Name: "load_rank", Default: 1, Ignored: true, Doc: "Tables load in Start."},
	{Name: "db_clean_tcp", Default: 0, Doc: "1: at load, drop records made over TCP, TLS, WS or WSS (their connections are gone)."},
	{Name: "redis", Default: 0, Doc: "luasbc: 1 keeps every location table in Redis, shared by all nodes (db_mode must be 0)."},
	{Name: "redis_url", Default: "", Doc: "luasbc: Redis URL for redis=1 (else the global redis_url)."},
	{Name: "redis_prefix", Default: "luasbc:usrloc:", Doc: "luasbc: prefix of the Redis keys (<prefix><table>:rec:<aor>, <prefix><table>:idx)."},
	{Name: "redis_timeout_ms", Default: 500, Doc: "luasbc: longest wait for one Redis operation."},
}

// settings are the validated parameters.
type settings struct {
	natBFlag, matchingMode, cseqDelay, hashSize, dbMode int
	useDomain, descTime, dbLoad, handleLostTCP          bool
	bigint, skipRemoteSocket, dbTimerClean, dbCleanTCP  bool
	rmExpiredDelay                                      int64
	interval                                            time.Duration
	preload                                             []string
	cols                                                columns
	dbURL                                               string
	redis                                               bool
	redisURL, redisPrefix                               string
	redisTimeout                                        time.Duration
}

func newModule(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	s := settings{natBFlag: p.Int("nat_bflag"), matchingMode: p.Int("matching_mode"), cseqDelay: p.Int("cseq_delay"),
		hashSize: p.Int("hash_size"), dbMode: p.Int("db_mode"), useDomain: p.Bool("use_domain"),
		descTime: p.Bool("desc_time_order"), dbLoad: p.Bool("db_load"), handleLostTCP: p.Bool("handle_lost_tcp"),
		bigint: p.Int("expires_type") == 1, skipRemoteSocket: p.Bool("skip_remote_socket"),
		dbTimerClean: p.Bool("db_timer_clean"), dbCleanTCP: p.Bool("db_clean_tcp"),
		rmExpiredDelay: int64(p.Int("rm_expired_delay")), redis: p.Bool("redis"), redisPrefix: p.Str("redis_prefix"),
		cols: columns{ruid: p.Str("ruid_column"), user: p.Str("user_column"), domain: p.Str("domain_column"),
			contact: p.Str("contact_column"), received: p.Str("received_column"), path: p.Str("path_column"),
			expires: p.Str("expires_column"), q: p.Str("q_column"), callid: p.Str("callid_column"),
			cseq: p.Str("cseq_column"), modified: "last_modified", flags: p.Str("flags_column"),
			cflags: p.Str("cflags_column"), ua: p.Str("user_agent_column"), socket: p.Str("socket_column"),
			methods: p.Str("methods_column"), instance: p.Str("instance_column"), regid: p.Str("reg_id_column"),
			serverid: p.Str("server_id_column"), connid: p.Str("connection_id_column"),
			keepalive: p.Str("keepalive_column"), partition: p.Str("partition_column")}}
	if s.natBFlag < -1 || s.natBFlag > 31 {
		return nil, fmt.Errorf("nat_bflag: want -1 or a flag 0..31, got %d", s.natBFlag)
	}
	if s.matchingMode < 0 || s.matchingMode > 3 {
		return nil, fmt.Errorf("matching_mode: want 0..3, got %d", s.matchingMode)
	}
	if s.cseqDelay < 0 {
		return nil, fmt.Errorf("cseq_delay: want 0 or more seconds, got %d", s.cseqDelay)
	}
	if s.hashSize < 1 || s.hashSize > 16 {
		return nil, fmt.Errorf("hash_size: want 1..16, got %d", s.hashSize)
	}
	if s.dbMode < 0 || s.dbMode > 4 {
		return nil, fmt.Errorf("db_mode: want 0..4, got %d", s.dbMode)
	}
	if t := p.Int("expires_type"); t != 0 && t != 1 {
		return nil, fmt.Errorf("expires_type: want 0 or 1, got %d", t)
	}
	if n := p.Int("timer_interval"); n < 1 || n > 3600 {
		return nil, fmt.Errorf("timer_interval: want 1..3600 seconds, got %d", n)
	} else {
		s.interval = time.Duration(n) * time.Second
	}
	if n := p.Int("redis_timeout_ms"); n < 1 || n > 10000 {
		return nil, fmt.Errorf("redis_timeout_ms: want 1..10000, got %d", n)
	} else {
		s.redisTimeout = time.Duration(n) * time.Millisecond
	}
	if s.rmExpiredDelay < 0 {
		return nil, fmt.Errorf("rm_expired_delay: want 0 or more seconds, got %d", s.rmExpiredDelay)
	}
	for _, c := range s.cols.list() {
		if !isIdent(c) {
			return nil, fmt.Errorf("column name %q: want letters, digits and _", c)
		}
	}
	for _, v := range p.Strs("preload") {
		for _, name := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
			if err := checkTableName(name); err != nil {
				return nil, fmt.Errorf("preload: %w", err)
			}
			s.preload = append(s.preload, name)
		}
	}
	// A table whose records live in a backend is loaded (and its expiry
	// watched) from the start even when the script has not used it yet.
	if len(s.preload) == 0 && (s.dbMode != 0 || s.redis) {
		s.preload = []string{"location"}
	}
	var globalDB, globalRedis string
	if env.Engine != nil && env.Engine.Cfg != nil {
		globalDB, globalRedis = env.Engine.Cfg.DBURL, env.Engine.Cfg.RedisURL
	}
	if s.dbMode != 0 {
		if s.dbURL = backend.Resolve(p.Str("db_url"), globalDB); s.dbURL == "" {
			return nil, fmt.Errorf("db_mode %d needs db_url (module or global)", s.dbMode)
		}
		if _, err := pgxpool.ParseConfig(s.dbURL); err != nil {
			return nil, fmt.Errorf("db_url: %w", err)
		}
	}
	if s.redis {
		if s.dbMode != 0 {
			return nil, fmt.Errorf("redis=1 keeps the location in Redis: db_mode must be 0, got %d", s.dbMode)
		}
		if s.redisURL = backend.Resolve(p.Str("redis_url"), globalRedis); s.redisURL == "" {
			return nil, fmt.Errorf("redis=1 needs redis_url (module or global)")
		}
		if _, err := redis.ParseURL(s.redisURL); err != nil {
			return nil, fmt.Errorf("redis_url: %w", err)
		}
	}
	log := env.Log
	if log == nil {
		log = zap.NewNop()
	}
	m := &Module{env: env, log: log, s: s, domains: map[string]*Domain{}, stop: make(chan struct{}),
		dbh: &health{what: "database", log: log}, rh: &health{what: "redis", log: log}}
	m.conns.init()
	stats.Gauge("usrloc", "registered_users", m.registeredUsers)
	if env.Core != nil && s.handleLostTCP {
		env.Core.ConnClosed = append(env.Core.ConnClosed, m.connClosed)
	}
	return m, nil
}

func isIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkTableName accepts a location table name: an identifier, optionally
// schema-qualified ("sip.location").
func checkTableName(name string) error {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return fmt.Errorf("table name %q: at most one schema prefix", name)
	}
	for _, p := range parts {
		if !isIdent(p) {
			return fmt.Errorf("table name %q: want letters, digits and _ (optionally schema.table)", name)
		}
	}
	return nil
}
