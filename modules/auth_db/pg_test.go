package authdb

import (
	"context"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
	"github.com/luasbc/luasbc/modules/auth/authtest"
)

// pgSubscribers creates Kamailio's subscriber table (this module's schema),
// the version table, two extra columns for load_credentials, and rows.
func pgSubscribers(t *testing.T) (url string, exec func(sql string, args ...any)) {
	t.Helper()
	url, db := backendtest.Schema(t)
	exec = func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(context.Background(), sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE version (id SERIAL PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL,
		table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name))`)
	exec(kemi.LookupModule("auth_db").Tables[0].SQL)
	exec(`INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7)`)
	exec(`ALTER TABLE subscriber ADD COLUMN rpid VARCHAR(64) DEFAULT NULL, ADD COLUMN n INTEGER DEFAULT NULL`)
	exec(`INSERT INTO subscriber (username, domain, password, ha1, ha1b, rpid, n) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		"alice", "example.com", "secret", authtest.HA1("MD5", "alice", "example.com", "secret"),
		authtest.HA1("MD5", "alice@example.com", "example.com", "secret"), "+4930111", 42)
	exec(`INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ($1, $2, $3, $4, $5)`,
		"alice", "other.example", "other", authtest.HA1("MD5", "alice", "other.example", "other"), "")
	return url, exec
}

func TestPostgresCalculateHA1(t *testing.T) {
	url, _ := pgSubscribers(t)
	s := newHarness(t, map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password",
		"use_domain": 1, "load_credentials": "$avp(rpid)=rpid;n"}, "")
	rep := s.auth(req{}, &authtest.Client{Username: "alice", Password: "secret"})
	if rc(rep) != "1" {
		t.Fatalf("alice: %q", rep)
	}
	// rpid as text, n (an integer column) as a number.
	if avp := authtest.Header(rep, "X-AVP"); !strings.Contains(avp, "rpid=+4930111") || !strings.Contains(avp, "n=number:42") {
		t.Errorf("load_credentials: %q", avp)
	}
	if rep := s.auth(req{}, &authtest.Client{Username: "alice", Password: "other"}); rc(rep) != "-2" {
		t.Errorf("the other domain's password: %q", rep)
	}
	other := req{Headers: []string{"X-Realm: other.example", "X-Flags: 0"}}
	if rep := s.auth(other, &authtest.Client{Username: "alice", Password: "other"}); rc(rep) != "1" {
		t.Errorf("alice@other.example: %q", rep)
	}
	// NULL columns load nothing.
	if avp := authtest.Header(s.auth(other, &authtest.Client{Username: "alice", Password: "other"}), "X-AVP"); !strings.Contains(avp, "rpid=<null>") {
		t.Errorf("NULL rpid: %q", avp)
	}
	if rep := s.auth(req{From: "<sip:zed@example.com>;tag=z", To: "<sip:zed@example.com>"}, &authtest.Client{Username: "zed", Password: "x"}); rc(rep) != "-3" {
		t.Errorf("unknown user: %q", rep)
	}
	// A table that does not exist: -1, logged; a name that is not an
	// identifier never reaches SQL.
	if rep := s.auth(req{Headers: []string{"X-Table: nosuch"}}, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "-1" {
		t.Errorf("missing table: %q", rep)
	}
	if rep := s.auth(req{Headers: []string{"X-Table: subscriber; DROP TABLE subscriber"}}, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "-1" {
		t.Errorf("injected table name: %q", rep)
	}
	// is_subscriber.
	if rep := s.send(req{Method: "OPTIONS", Headers: []string{"X-Op: subs", "X-URI: sip:alice@example.com", "X-Flags: 1"}}); rc(rep) != "1" ||
		!strings.Contains(authtest.Header(rep, "X-AVP"), "rpid=+4930111") {
		t.Errorf("is_subscriber: %q", rep)
	}
	if rep := s.send(req{Method: "OPTIONS", Headers: []string{"X-Op: subs", "X-URI: sip:alice@nowhere.example", "X-Flags: 3"}}); rc(rep) != "-2" {
		t.Errorf("is_subscriber elsewhere: %q", rep)
	}
}

func TestPostgresHA1Columns(t *testing.T) {
	url, _ := pgSubscribers(t)
	// The global db_url, calculate_ha1 0: ha1, and ha1b for user@domain.
	s := newHarness(t, map[string]any{"use_domain": 1}, "db_url: "+url)
	if rep := s.auth(req{}, &authtest.Client{Username: "alice", Password: "secret"}); rc(rep) != "1" {
		t.Fatalf("ha1: %q", rep)
	}
	if rep := s.auth(req{}, &authtest.Client{Username: "alice@example.com", Password: "secret"}); rc(rep) != "1" {
		t.Fatalf("ha1b: %q", rep)
	}
	if rep := s.auth(req{}, &authtest.Client{Username: "alice", Password: "wrong"}); rc(rep) != "-2" {
		t.Fatalf("wrong: %q", rep)
	}
	// Proxy-Authorization through proxy_authenticate; an empty realm is the From host.
	inv := req{Method: "INVITE", RURI: "sip:bob@example.com", To: "<sip:bob@example.com>", Headers: []string{"X-Op: proxy", "X-Realm: "}}
	rep := s.send(inv)
	if kemitest.StatusCode(rep) != 407 {
		t.Fatalf("INVITE: %q", rep)
	}
	ch := authtest.Challenges(rep)[0]
	if rep := s.send(inv.WithAnswer(&authtest.Client{Username: "alice", Password: "secret"}, ch, "auth")); rc(rep) != "1" {
		t.Fatalf("proxy_authenticate: %q", rep)
	}
}

func TestPostgresStartChecks(t *testing.T) {
	url, exec := pgSubscribers(t)
	if err := tryStart(t, map[string]any{"db_url": url}, ""); err != nil {
		t.Fatalf("good database: %v", err)
	}
	exec(`UPDATE version SET table_version = 6 WHERE table_name = 'subscriber'`)
	if err := tryStart(t, map[string]any{"db_url": url}, ""); err == nil || !strings.Contains(err.Error(), "version 6") {
		t.Fatalf("old table version: %v", err)
	}
	if err := tryStart(t, map[string]any{"db_url": url, "version_table": 0}, ""); err != nil {
		t.Fatalf("version_table 0: %v", err)
	}
	// A database that is not there fails the start with the reason.
	if err := tryStart(t, map[string]any{"db_url": "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"}, ""); err == nil {
		t.Fatal("unreachable database: started")
	}
}
