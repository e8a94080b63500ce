// Package dbschema creates and checks the PostgreSQL tables the modules use
// (Kamailio's names, columns and versions, from kemi.Module.Tables), for
// `sbcctl db create/migrate/show` and the generated deploy/postgres schema.
package dbschema

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luasbc/luasbc/kemi"
)

// Entry is one table and the module that owns it.
type Entry struct {
	Module string
	kemi.Table
}

// versionSQL is Kamailio's version table.
const versionSQL = `CREATE TABLE version (
    id SERIAL PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);`

// All lists the tables of every registered module, by table name.
func All() []Entry {
	var out []Entry
	for _, m := range kemi.Modules() {
		for _, t := range m.Tables {
			out = append(out, Entry{Module: m.Name, Table: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Script is the whole schema as one SQL file: the version table, every
// table, and their version rows.
func Script(es []Entry) string {
	var b strings.Builder
	b.WriteString("-- luasbc PostgreSQL schema: Kamailio's tables, names and versions, so a Kamailio\n")
	b.WriteString("-- database works as is. Generated from the modules by `make docs`; apply with\n")
	b.WriteString("-- `sbcctl db create` (creates what is missing) or psql -f.\n\n")
	b.WriteString(versionSQL + "\n\n")
	for _, e := range es {
		fmt.Fprintf(&b, "-- module %s\n%s\n", e.Module, strings.TrimSpace(e.SQL))
		fmt.Fprintf(&b, "INSERT INTO version (table_name, table_version) VALUES ('%s', %d);\n\n", e.Name, e.Version)
	}
	return b.String()
}

// Status is what the database holds for one table.
type Status struct {
	Entry
	Exists     bool
	HasVersion bool
	DBVersion  int
}

// Problem says what is wrong, "" when the table is as the module expects.
func (s Status) Problem() string {
	switch {
	case !s.Exists:
		return "missing"
	case !s.HasVersion:
		return "no row in the version table"
	case s.DBVersion != s.Version:
		return fmt.Sprintf("version %d, the module reads version %d", s.DBVersion, s.Version)
	}
	return ""
}

// Inspect reports each table's state.
func Inspect(ctx context.Context, db *pgxpool.Pool, es []Entry) ([]Status, error) {
	versions := map[string]int{}
	if exists, err := tableExists(ctx, db, "version"); err != nil {
		return nil, err
	} else if exists {
		rows, err := db.Query(ctx, "SELECT table_name, table_version FROM version")
		if err != nil {
			return nil, fmt.Errorf("reading the version table: %w", err)
		}
		for rows.Next() {
			var name string
			var v int
			if err := rows.Scan(&name, &v); err != nil {
				rows.Close()
				return nil, err
			}
			versions[name] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]Status, 0, len(es))
	for _, e := range es {
		ok, err := tableExists(ctx, db, e.Name)
		if err != nil {
			return nil, err
		}
		v, has := versions[e.Name]
		out = append(out, Status{Entry: e, Exists: ok, HasVersion: has, DBVersion: v})
	}
	return out, nil
}

// Create makes the version table and every missing table (with its version
// row), each in its own transaction; existing tables are left alone. It
// returns the tables it created.
func Create(ctx context.Context, db *pgxpool.Pool, es []Entry) ([]string, error) {
	if ok, err := tableExists(ctx, db, "version"); err != nil {
		return nil, err
	} else if !ok {
		if _, err := db.Exec(ctx, versionSQL); err != nil {
			return nil, fmt.Errorf("creating the version table: %w", err)
		}
	}
	var created []string
	for _, e := range es {
		ok, err := tableExists(ctx, db, e.Name)
		if err != nil {
			return created, err
		}
		if ok {
			continue
		}
		err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, e.SQL); err != nil {
				return err
			}
			return setVersion(ctx, tx, e)
		})
		if err != nil {
			return created, fmt.Errorf("table %s (module %s): %w", e.Name, e.Module, err)
		}
		created = append(created, e.Name)
	}
	return created, nil
}

// Migrate is Create plus a version row for tables that exist without one
// (tables made by hand). Tables whose version differs are reported, never
// altered: Kamailio's upgrades rewrite data, which is for the operator.
func Migrate(ctx context.Context, db *pgxpool.Pool, es []Entry) (created, versioned []string, mismatched []Status, err error) {
	if created, err = Create(ctx, db, es); err != nil {
		return
	}
	st, err := Inspect(ctx, db, es)
	if err != nil {
		return
	}
	for _, s := range st {
		switch {
		case s.Exists && !s.HasVersion:
			if _, err = db.Exec(ctx, "INSERT INTO version (table_name, table_version) VALUES ($1, $2)", s.Name, s.Version); err != nil {
				return
			}
			versioned = append(versioned, s.Name)
		case s.Exists && s.DBVersion != s.Version:
			mismatched = append(mismatched, s)
		}
	}
	return
}

func setVersion(ctx context.Context, tx pgx.Tx, e Entry) error {
	if _, err := tx.Exec(ctx, "DELETE FROM version WHERE table_name = $1", e.Name); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO version (table_name, table_version) VALUES ($1, $2)", e.Name, e.Version)
	return err
}

// tableExists looks the name up on the connection's search_path.
func tableExists(ctx context.Context, db *pgxpool.Pool, name string) (bool, error) {
	var found bool
	if err := db.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&found); err != nil {
		return false, fmt.Errorf("looking for table %s: %w", name, err)
	}
	return found, nil
}
