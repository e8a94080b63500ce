package permissions_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/kemi"
)

// kamailioSchema is Kamailio's permissions schema for PostgreSQL (table
// version 6 of both tables).
const kamailioSchema = `
CREATE TABLE version (table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL);
INSERT INTO version (table_name, table_version) values ('trusted','6');
CREATE TABLE trusted (
    id SERIAL PRIMARY KEY NOT NULL,
    src_ip VARCHAR(50) NOT NULL,
    proto VARCHAR(4) NOT NULL,
    from_pattern VARCHAR(64) DEFAULT NULL,
    ruri_pattern VARCHAR(64) DEFAULT NULL,
    tag VARCHAR(64),
    priority INTEGER DEFAULT 0 NOT NULL
);
CREATE INDEX trusted_peer_idx ON trusted (src_ip);
INSERT INTO version (table_name, table_version) values ('address','6');
CREATE TABLE address (
    id SERIAL PRIMARY KEY NOT NULL,
    grp INTEGER DEFAULT 1 NOT NULL,
    ip_addr VARCHAR(50) NOT NULL,
    mask INTEGER DEFAULT 32 NOT NULL,
    port SMALLINT DEFAULT 0 NOT NULL,
    tag VARCHAR(64)
);
`

func pgSchema(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url, pool := backendtest.Schema(t)
	exec(t, pool, kamailioSchema)
	return url, pool
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestPostgresCached(t *testing.T) {
	url, pool := pgSchema(t)
	exec(t, pool, `INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES
		(1, '127.0.0.1', 32, 0, 'lo'), (2, '10.0.0.0', 8, 5060, NULL), (3, '2001:db8::', 32, 0, 'v6'),
		(4, 'gw.example.com', 32, 0, 'dom')`)
	exec(t, pool, `INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES
		('127.0.0.1', 'udp', '^sip:alice@', NULL, 'alice', 1),
		('127.0.0.1', 'any', NULL, '^sip:911@', 'sos', 5),
		('10.9.9.9', 'none', NULL, NULL, 'never', 0)`)
	exprs := []string{
		`KSR.permissions.allow_source_address(1)`,
		`KSR.permissions.allow_address(2, "10.1.2.3", 5060)`,
		`KSR.permissions.allow_address(2, "10.1.2.3", 5061)`,
		`KSR.permissions.allow_address(3, "2001:db8:ab::1", 1)`,
		`KSR.permissions.allow_address_group("gw.example.com", 9)`,
		`KSR.permissions.allow_trusted()`,
		`KSR.pv.get("$avp(tag)")`,
		`KSR.permissions.allow_trusted_src_proto("10.9.9.9", "any")`,
		`KSR.permissions.allow_address(5, "10.5.0.1", 0)`,
	}
	s := start(t, map[string]any{"db_url": url, "db_mode": 1, "peer_tag_avp": "$avp(tag)", "reload_delta": 0}, exprs)
	s.want(s.eval(0, "INVITE", "sip:911@x"), "1", "1", "-1", "1", "4", "1", "sos", "-1", "-1")
	s.want(s.eval(0, "INVITE", "sip:bob@x")[5:7], "1", "alice")

	// New rows appear after a reload, not before.
	exec(t, pool, `INSERT INTO address (grp, ip_addr, mask, port) VALUES (5, '10.5.0.0', 16, 0)`)
	s.want(s.eval(0, "INVITE", "sip:bob@x")[8:], "-1")
	if res, err := s.rpc("permissions.addressReload"); err != nil || res != "Reload OK" {
		t.Fatalf("reload: %v %v", res, err)
	}
	s.want(s.eval(0, "INVITE", "sip:bob@x")[8:], "1")

	// A bad row fails the reload, naming the row; the loaded table stays.
	exec(t, pool, `INSERT INTO address (grp, ip_addr, mask, port) VALUES (6, '10.6.0.0', 40, 0)`)
	if _, err := s.rpc("permissions.addressReload"); err == nil || !strings.Contains(asJSON(err.Data), "(10.6.0.0): address \\\"10.6.0.0\\\": mask 40") {
		t.Errorf("bad row: %+v", err)
	}
	// So does a database that lost its table.
	exec(t, pool, `ALTER TABLE address RENAME TO address_gone`)
	exec(t, pool, `ALTER TABLE trusted RENAME TO trusted_gone`)
	for _, m := range []string{"permissions.addressReload", "permissions.trustedReload"} {
		if _, err := s.rpc(m); err == nil || !strings.Contains(asJSON(err.Data), "does not exist") {
			t.Errorf("%s without its table: %+v", m, err)
		}
	}
	s.want(s.eval(0, "INVITE", "sip:911@x"), "1", "1", "-1", "1", "4", "1", "sos", "-1", "1")

	res, _ := s.rpc("permissions.trustedDump")
	if j := asJSON(res); strings.Contains(j, "never") || !strings.Contains(j, `"tag":"sos"`) {
		t.Errorf("trustedDump: %s", j)
	}
}

func TestPostgresNoCache(t *testing.T) {
	url, pool := pgSchema(t)
	exec(t, pool, `INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES
		('127.0.0.1', 'udp', '^sip:alice@', NULL, 'alice', 1)`)
	// Without any database or file the tables are empty.
	s := start(t, nil, []string{`KSR.permissions.allow_trusted()`, `KSR.permissions.allow_source_address(1)`})
	s.want(s.eval(0, "INVITE", "sip:bob@x"), "-1", "-1")
	// The global db_url serves when the module has none.
	s2 := startExtra(t, "db_url: "+url, map[string]any{"db_mode": 0, "reload_delta": 0},
		[]string{`KSR.permissions.allow_trusted()`, `KSR.permissions.allow_source_address(1)`})
	s2.want(s2.eval(0, "INVITE", "sip:bob@x"), "1", "-1")
	// db_mode 0 reads the table on every call: a change shows at once.
	exec(t, pool, `UPDATE trusted SET proto = 'tcp'`)
	s2.want(s2.eval(0, "INVITE", "sip:bob@x"), "-1", "-1")
	exec(t, pool, `INSERT INTO address (grp, ip_addr) VALUES (1, '127.0.0.1')`)
	if _, err := s2.rpc("permissions.trustedReload"); err == nil || !strings.Contains(asJSON(err.Data), "db_mode is 0") {
		t.Errorf("trustedReload with db_mode 0: %+v", err)
	}
	if _, err := s2.rpc("permissions.trustedDump"); err == nil || err.Message != "No trusted table" {
		t.Errorf("trustedDump with db_mode 0: %+v", err)
	}
	if res, err := s2.rpc("permissions.addressReload"); err != nil || res != "Reload OK" {
		t.Fatalf("addressReload: %v %v", res, err)
	}
	s2.want(s2.eval(0, "INVITE", "sip:bob@x"), "-1", "1")
	// The database going away makes allow_trusted fail, not hang.
	exec(t, pool, `ALTER TABLE trusted RENAME TO trusted_gone`)
	s2.want(s2.eval(0, "INVITE", "sip:bob@x"), "-1", "1")
	if !s2.h.LogContains("database query failed") {
		t.Error("failed query not logged")
	}
}

func TestPostgresCustomColumns(t *testing.T) {
	url, pool := backendtest.Schema(t)
	exec(t, pool, `CREATE TABLE acl (id SERIAL, group_id INTEGER NOT NULL, ip_address VARCHAR(50) NOT NULL,
		subnet_length INTEGER NOT NULL DEFAULT 32, p SMALLINT NOT NULL DEFAULT 0, peer_tag VARCHAR(64))`)
	exec(t, pool, `INSERT INTO acl (group_id, ip_address, subnet_length, peer_tag) VALUES (7, '127.0.0.0', 8, 'custom')`)
	s := start(t, map[string]any{"db_url": url, "address_table": "acl", "grp_col": "group_id", "ip_addr_col": "ip_address",
		"mask_col": "subnet_length", "port_col": "p", "tag_col": "peer_tag", "peer_tag_avp": "$avp(x)", "load_backends": 1},
		[]string{`KSR.permissions.allow_source_address_group()`, `KSR.pv.get("$avp(x)")`})
	s.want(s.eval(0, "OPTIONS", "sip:x@y"), "7", "custom")
}

func TestPostgresStartErrors(t *testing.T) {
	url, pool := backendtest.Schema(t)
	exec(t, pool, `CREATE TABLE address (grp INTEGER, ip_addr VARCHAR(50), mask INTEGER, port SMALLINT, tag VARCHAR(64))`)
	exec(t, pool, `INSERT INTO address VALUES (1, '10.0.0.1', NULL, 0, NULL)`)
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		// A NULL the schema forbids, named with its row.
		{map[string]any{"db_url": url, "load_backends": 1}, "row 1 (10.0.0.1): NULL in grp, ip_addr, mask or port"},
		// No trusted table.
		{map[string]any{"db_url": url, "load_backends": 2, "db_mode": 1}, `relation "trusted" does not exist`},
		{map[string]any{"db_url": url, "load_backends": 2}, `relation "trusted" does not exist`},
		// No database.
		{map[string]any{"db_url": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", "load_backends": 1}, "postgres"},
	} {
		err := startEngine(t, tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.params, err, tc.want)
		}
	}
}

// startEngine builds an engine without a core and starts its modules.
func startEngine(t *testing.T, params map[string]any) error {
	t.Helper()
	cfg, err := config.Parse([]byte("lua: {load: script.lua}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Modules = map[string]map[string]any{"permissions": params}
	eng, err := kemi.NewEngine(nil, cfg, zap.NewNop(), nil)
	if err != nil {
		return err
	}
	return eng.StartModules()
}
