package usrloc

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaSQL is Kamailio's location table for PostgreSQL (kamailio-postgres
// 'location' version 9), so an existing Kamailio database can be used.
const SchemaSQL = `CREATE TABLE location (
    id SERIAL PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q REAL DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    cflags INTEGER DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INTEGER DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    server_id INTEGER DEFAULT 0 NOT NULL,
    connection_id INTEGER DEFAULT 0 NOT NULL,
    keepalive INTEGER DEFAULT 0 NOT NULL,
    partition INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT location_ruid_idx UNIQUE (ruid)
);
CREATE INDEX location_account_contact_idx ON location (username, domain, contact);
CREATE INDEX location_expires_idx ON location (expires);
CREATE INDEX location_connection_idx ON location (server_id, connection_id);
CREATE INDEX location_keepalive_idx ON location (keepalive);`

// AttrsSchemaSQL is Kamailio's location_attrs table (version 1), created
// with the location table; luasbc does not use it (no xavp_contact).
const AttrsSchemaSQL = `CREATE TABLE location_attrs (
    id SERIAL PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    aname VARCHAR(64) DEFAULT '' NOT NULL,
    atype INTEGER DEFAULT 0 NOT NULL,
    avalue VARCHAR(512) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL
);
CREATE INDEX location_attrs_account_record_idx ON location_attrs (username, domain, ruid);
CREATE INDEX location_attrs_last_modified_idx ON location_attrs (last_modified);`

// columns are the location table's column names (the *_column modparams).
type columns struct {
	ruid, user, domain, contact, received, path, expires, q, callid, cseq, modified,
	flags, cflags, ua, socket, methods, instance, regid, serverid, connid, keepalive, partition string
}

// list is the columns in the order rows are written and read.
func (c *columns) list() []string {
	return []string{c.ruid, c.user, c.domain, c.contact, c.received, c.path, c.expires, c.q, c.callid, c.cseq,
		c.modified, c.flags, c.cflags, c.ua, c.socket, c.methods, c.instance, c.regid, c.serverid, c.connid,
		c.keepalive, c.partition}
}

// pgTable reads and writes one location table.
type pgTable struct {
	pool      *pgxpool.Pool
	name      string // quoted identifier
	cols      columns
	useDomain bool
	bigint    bool // expires_type=1: expires and last_modified are unix seconds
	upsert    string
	del       string
	sel       string
}

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

func newPGTable(pool *pgxpool.Pool, table string, cols columns, useDomain, bigint bool) *pgTable {
	t := &pgTable{pool: pool, name: ident(strings.Split(table, ".")...), cols: cols, useDomain: useDomain, bigint: bigint}
	names := cols.list()
	quoted := make([]string, len(names))
	ph := make([]string, len(names))
	set := make([]string, 0, len(names)-1)
	for i, n := range names {
		quoted[i] = ident(n)
		ph[i] = "$" + itoa(i+1)
		if i > 0 {
			set = append(set, quoted[i]+" = EXCLUDED."+quoted[i])
		}
	}
	// The ruid is unique (Kamailio's location_ruid_idx): one statement
	// inserts a new contact or rewrites a known one.
	t.upsert = "INSERT INTO " + t.name + " (" + strings.Join(quoted, ", ") + ") VALUES (" + strings.Join(ph, ", ") +
		") ON CONFLICT (" + quoted[0] + ") DO UPDATE SET " + strings.Join(set, ", ")
	t.del = "DELETE FROM " + t.name + " WHERE " + quoted[0] + " = ANY($1)"
	t.sel = "SELECT " + strings.Join(quoted, ", ") + " FROM " + t.name
	return t
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// apply writes new and changed contacts and deletes others, in one round
// trip and one implicit transaction.
func (t *pgTable) apply(ctx context.Context, ups []Contact, dels []string) error {
	return t.applyOn(ctx, t.pool, ups, dels)
}

func (t *pgTable) applyOn(ctx context.Context, q querier, ups []Contact, dels []string) error {
	if len(ups) == 0 && len(dels) == 0 {
		return nil
	}
	var b pgx.Batch
	for i := range ups {
		b.Queue(t.upsert, t.row(&ups[i])...)
	}
	if len(dels) > 0 {
		b.Queue(t.del, dels)
	}
	return q.SendBatch(ctx, &b).Close()
}

// splitAOR gives the username and domain columns of an AoR.
func (t *pgTable) splitAOR(aor string) (user string, domain *string) {
	if !t.useDomain {
		return aor, nil
	}
	if i := strings.LastIndexByte(aor, '@'); i >= 0 {
		d := aor[i+1:]
		return aor[:i], &d
	}
	return aor, nil
}

// joinAOR is the inverse of splitAOR.
func (t *pgTable) joinAOR(user string, domain *string) string {
	if t.useDomain && domain != nil && *domain != "" {
		return user + "@" + *domain
	}
	return user
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// permanent is what an expires column holds for a contact that never
// expires (Kamailio writes time 0).
var permanent = time.Unix(0, 0)

// toTime renders unix seconds as Kamailio does for DATETIME columns: the
// local wall clock, without a zone.
func toTime(sec int64) time.Time {
	if sec == 0 {
		return permanent.In(time.Local)
	}
	return time.Unix(sec, 0).In(time.Local)
}

// fromTime reads a TIMESTAMP WITHOUT TIME ZONE written as local time.
func fromTime(t time.Time) int64 {
	l := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local).Unix()
	if l <= 86400 { // the epoch in any time zone: permanent
		return 0
	}
	return l
}

func (t *pgTable) timeArg(sec int64) any {
	if t.bigint {
		return sec
	}
	return toTime(sec)
}

// row is the values of the columns in list order.
func (t *pgTable) row(c *Contact) []any {
	user, domain := t.splitAOR(c.AOR)
	conn := int64(-1)
	if c.ConnID > 0 && c.ConnID <= math.MaxInt32 {
		conn = c.ConnID
	}
	return []any{c.Ruid, user, domain, c.Addr, nullable(c.Received), nullable(c.Path), t.timeArg(c.Expires),
		float32(float64(c.Q) / 1000), c.CallID, int32(c.CSeq), t.timeArg(c.LastModified), int32(c.Flags),
		int32(c.CFlags), c.UserAgent, nullable(c.Socket), int32(c.Methods), nullable(c.Instance), int32(c.RegID),
		int32(c.ServerID), int32(conn), int32(c.Keepalive), int32(0)}
}

// scan reads one row written by row (or by Kamailio).
func (t *pgTable) scan(rows pgx.Rows) (Contact, error) {
	var (
		c                                         Contact
		user                                      string
		domain, received, path, socket, instance  *string
		ua                                        *string
		q                                         float64
		cseq, flags, cflags, regid, sid, ka, part int32
		conn                                      int32
		methods                                   *int32
	)
	var exp, mod any
	if t.bigint {
		var e, m int64
		exp, mod = &e, &m
	} else {
		var e, m time.Time
		exp, mod = &e, &m
	}
	if err := rows.Scan(&c.Ruid, &user, &domain, &c.Addr, &received, &path, exp, &q, &c.CallID, &cseq, mod,
		&flags, &cflags, &ua, &socket, &methods, &instance, &regid, &sid, &conn, &ka, &part); err != nil {
		return c, err
	}
	if t.bigint {
		c.Expires, c.LastModified = *exp.(*int64), *mod.(*int64)
	} else {
		c.Expires, c.LastModified = fromTime(*exp.(*time.Time)), fromTime(*mod.(*time.Time))
	}
	c.AOR = t.joinAOR(user, domain)
	c.Received, c.Path, c.Socket, c.Instance = deref(received), deref(path), deref(socket), deref(instance)
	c.UserAgent = deref(ua)
	c.Q = int(math.Round(q * 1000))
	c.CSeq, c.Flags, c.CFlags, c.RegID, c.ServerID, c.Keepalive = int(cseq), uint32(flags), uint32(cflags), int(regid), int(sid), int(ka)
	c.Methods = MethodsAll
	if methods != nil {
		c.Methods = uint32(*methods)
	}
	if conn > 0 {
		c.ConnID = int64(conn)
	}
	return c, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// loadAll reads the whole table in insertion order.
func (t *pgTable) loadAll(ctx context.Context) (map[string][]Contact, error) {
	rows, err := t.pool.Query(ctx, t.sel+" ORDER BY "+ident("id"))
	if err != nil {
		// A table made by hand may lack Kamailio's id column.
		var pe interface{ SQLState() string }
		if errors.As(err, &pe) && pe.SQLState() == "42703" {
			rows, err = t.pool.Query(ctx, t.sel)
		}
		if err != nil {
			return nil, err
		}
	}
	defer rows.Close()
	out := map[string][]Contact{}
	for rows.Next() {
		c, err := t.scan(rows)
		if err != nil {
			return nil, err
		}
		out[c.AOR] = append(out[c.AOR], c)
	}
	return out, rows.Err()
}

// loadAOR reads the contacts of one AoR (db_mode 3).
func (t *pgTable) loadAOR(ctx context.Context, q querier, aor string) ([]Contact, error) {
	user, domain := t.splitAOR(aor)
	sql := t.sel + " WHERE " + ident(t.cols.user) + " = $1"
	args := []any{user}
	if t.useDomain {
		if domain == nil {
			sql += " AND (" + ident(t.cols.domain) + " IS NULL OR " + ident(t.cols.domain) + " = '')"
		} else {
			sql += " AND " + ident(t.cols.domain) + " = $2"
			args = append(args, *domain)
		}
	}
	rows, err := q.Query(ctx, sql+" ORDER BY "+ident("id"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := t.scan(rows)
		if err != nil {
			return nil, err
		}
		c.AOR = aor
		out = append(out, c)
	}
	return out, rows.Err()
}

// count runs a counting query (ul.db_users, ul.db_contacts,
// ul.db_expired_contacts): what counts, and whether expired rows do.
func (t *pgTable) count(ctx context.Context, users, expired bool) (int64, error) {
	what := "COUNT(*)"
	if users {
		what = "COUNT(DISTINCT (" + ident(t.cols.user) + ", " + ident(t.cols.domain) + "))"
	}
	cond := ident(t.cols.expires) + " > $1 OR " + ident(t.cols.expires) + " <= $2"
	if expired {
		cond = ident(t.cols.expires) + " <= $1 AND " + ident(t.cols.expires) + " > $2"
	}
	now := unixNow()
	var n int64
	err := t.pool.QueryRow(ctx, "SELECT "+what+" FROM "+t.name+" WHERE "+cond, t.timeArg(now), t.timeArg(86400)).Scan(&n)
	return n, err
}

// deleteExpired removes the expired rows and returns them (db_mode 3, and
// db_timer_clean for the cached modes).
func (t *pgTable) deleteExpired(ctx context.Context, before int64) ([]Contact, error) {
	names := t.cols.list()
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = ident(n)
	}
	rows, err := t.pool.Query(ctx, "DELETE FROM "+t.name+" WHERE "+ident(t.cols.expires)+" <= $1 AND "+
		ident(t.cols.expires)+" > $2 RETURNING "+strings.Join(quoted, ", "), t.timeArg(before), t.timeArg(86400))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := t.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
