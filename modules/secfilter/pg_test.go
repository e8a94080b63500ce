package secfilter_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
)

// kamailioDDL is Kamailio's secfilter-create.sql for PostgreSQL.
const kamailioDDL = `CREATE TABLE secfilter (
    id SERIAL PRIMARY KEY NOT NULL,
    action SMALLINT DEFAULT 0 NOT NULL,
    type SMALLINT DEFAULT 0 NOT NULL,
    data VARCHAR(64) DEFAULT '' NOT NULL
);
CREATE INDEX secfilter_secfilter_idx ON secfilter (action, type, data);`

func pgExec(t *testing.T, p *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := p.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func startPG(t *testing.T, params map[string]any) *server {
	t.Helper()
	t.Cleanup(backend.CloseAll)
	h := kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "secfilter": params}})
	return &server{t: t, h: h}
}

func TestPostgresLoadAndReload(t *testing.T) {
	url, db := backendtest.Schema(t)
	pgExec(t, db, kamailioDDL)
	pgExec(t, db, `INSERT INTO secfilter (action, type, data) VALUES
		(0, 0, 'friendly-scanner'), (1, 0, 'friendly-scanner-ok'), (0, 4, 'sipvicious'),
		(0, 3, '127.0.0.0/8'), (1, 3, '127.0.0.1'), (2, 0, '0900'), (0, 2, 'evil.example')`)
	s := startPG(t, map[string]any{"db_url": url, "reload_delta": 0})

	s.expect(request("0900", "<sip:sipvicious@example.com>", "<sip:bob@evil.example>", "User-Agent: friendly-scanner v1"),
		map[string]string{"ua": "-2", "from": "-2", "to": "-3", "ip": "2", "dst": "-2"})
	s.expect(request("bob", alice, bob, "User-Agent: friendly-scanner-ok"), map[string]string{"ua": "2"})

	// Changes in the table show after secfilter.reload.
	pgExec(t, db, `DELETE FROM secfilter WHERE action = 1 AND type = 3`)
	pgExec(t, db, `INSERT INTO secfilter (action, type, data) VALUES (0, 0, 'Zoiper')`)
	s.expect(request("bob", alice, bob), map[string]string{"ip": "2"})
	s.rpcOK("secfilter.reload")
	s.expect(request("bob", alice, bob, "User-Agent: zoiper 5"), map[string]string{"ip": "-2", "ua": "-2"})

	// A row that cannot be used fails the reload and the lists stay.
	pgExec(t, db, `INSERT INTO secfilter (action, type, data) VALUES (7, 0, 'x')`)
	_, err := s.rpc("secfilter.reload")
	if err == nil || !strings.Contains(err.Message, "unknown action 7") {
		t.Fatalf("reload with a bad row: %v", err)
	}
	s.expect(request("bob", alice, bob, "User-Agent: zoiper 5"), map[string]string{"ua": "-2"})

	// So does a missing table.
	pgExec(t, db, `DROP TABLE secfilter`)
	_, err = s.rpc("secfilter.reload")
	if err == nil || !strings.Contains(err.Message, "secfilter") {
		t.Fatalf("reload without the table: %v", err)
	}
	s.expect(request("bob", alice, bob, "User-Agent: zoiper 5"), map[string]string{"ua": "-2", "ip": "-2"})
}

func TestPostgresCustomNames(t *testing.T) {
	url, db := backendtest.Schema(t)
	pgExec(t, db, `CREATE TABLE sf_rules (id SERIAL PRIMARY KEY, list SMALLINT NOT NULL, kind INTEGER NOT NULL, "Value" TEXT NOT NULL)`)
	pgExec(t, db, `INSERT INTO sf_rules (list, kind, "Value") VALUES (0, 1, 'CN'), (0, 0, 'sipcli')`)
	s := startPG(t, map[string]any{"db_url": url, "table_name": "sf_rules", "action_col": "list", "type_col": "kind", "data_col": "Value"})
	s.expect(request("bob", alice, bob, "User-Agent: SIPcli/1.8", "X-CC: cn"), map[string]string{"ua": "-2", "cc": "-2"})
}

// TestStartErrors: the reasons sbc --check and start-up print.
func TestStartErrors(t *testing.T) {
	url, db := backendtest.Schema(t)
	pgExec(t, db, kamailioDDL)
	pgExec(t, db, `INSERT INTO secfilter (action, type, data) VALUES (0, 3, '10.0.0.0/33')`)
	t.Cleanup(backend.CloseAll)
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"db_url": url}, "bad CIDR"},
		{map[string]any{"db_url": url, "table_name": "nope"}, "nope"},
		{map[string]any{"db_url": "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"}, "postgres"},
		{map[string]any{"db_url": "text:///nonexistent-dir"}, "no such file"},
		{map[string]any{"db_url": "mysql://u:p@localhost/kamailio"}, "not supported"},
		{map[string]any{"geoip2_path": "/nonexistent.mmdb"}, "geoip2_path"},
		{map[string]any{"table_name": ""}, "table_name"},
	} {
		def := kemi.LookupModule("secfilter")
		p, _, err := kemi.ValidateParams(def, c.params)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := def.New(&kemi.Env{Log: zap.NewNop(), Params: p})
		if err == nil {
			err = inst.(kemi.Starter).Start()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.params, err, c.want)
		}
	}
}
