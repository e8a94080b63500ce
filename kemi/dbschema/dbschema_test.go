package dbschema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/kemi/dbschema"
	_ "github.com/luasbc/luasbc/modules/all"
)

func TestCreateInspectMigrate(t *testing.T) {
	ctx := context.Background()
	_, db := backendtest.Schema(t)
	es := dbschema.All()
	names := map[string]bool{}
	for _, e := range es {
		names[e.Name] = true
	}
	for _, want := range []string{"htable", "address", "trusted", "secfilter"} {
		if !names[want] {
			t.Errorf("no module declares table %s", want)
		}
	}
	st, err := dbschema.Inspect(ctx, db, es)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Problem() != "missing" {
			t.Errorf("%s in an empty schema: %q", s.Name, s.Problem())
		}
	}
	created, err := dbschema.Create(ctx, db, es)
	if err != nil || len(created) != len(es) {
		t.Fatalf("created %v, %v", created, err)
	}
	// The tables accept what the modules write: a Kamailio address row.
	if _, err := db.Exec(ctx, "INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '10.0.0.0', 8, 0, 'x')"); err != nil {
		t.Fatal(err)
	}
	if again, err := dbschema.Create(ctx, db, es); err != nil || len(again) != 0 {
		t.Errorf("second create: %v %v", again, err)
	}
	// A table made by hand without a version row, and one with an old version.
	if _, err := db.Exec(ctx, "DELETE FROM version WHERE table_name = 'trusted'; UPDATE version SET table_version = 1 WHERE table_name = 'address'"); err != nil {
		t.Fatal(err)
	}
	_, versioned, mismatched, err := dbschema.Migrate(ctx, db, es)
	if err != nil || len(versioned) != 1 || versioned[0] != "trusted" || len(mismatched) != 1 || mismatched[0].Name != "address" {
		t.Fatalf("migrate: versioned %v mismatched %v err %v", versioned, mismatched, err)
	}
	if p := mismatched[0].Problem(); !strings.Contains(p, "version 1") {
		t.Errorf("problem %q", p)
	}
}

func TestScript(t *testing.T) {
	s := dbschema.Script(dbschema.All())
	for _, want := range []string{"CREATE TABLE version", "CREATE TABLE address", "INSERT INTO version (table_name, table_version) VALUES ('address', 6);"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
}
