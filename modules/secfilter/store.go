package secfilter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luasbc/luasbc/core/backend"
)

// Source loads the whole secfilter table. Load is called at start and by
// secfilter.reload; it must not return a partial table.
type Source interface {
	Load(ctx context.Context) ([]Rule, error)
	String() string // names the table for logs and errors, without credentials
}

// columns are the table and column names (modparams table_name, action_col,
// type_col, data_col).
type columns struct {
	table, action, typ, data string
}

// newSource picks the store from db_url: "postgres://…" (or postgresql://)
// reads the table from PostgreSQL; "text://DIR" reads the db_text file
// DIR/<table_name> as Kamailio's db_text module would ("text://" followed by
// a relative path is relative to the config directory, as Kamailio's is to
// CFG_DIR). An empty URL means no store: the lists start empty and only the
// RPC commands fill them.
func newSource(url string, cols columns, resolve func(string) string) (Source, error) {
	switch {
	case url == "":
		return nil, nil
	case strings.HasPrefix(url, "text://"):
		dir := strings.TrimPrefix(url, "text://")
		if dir == "" {
			return nil, fmt.Errorf("db_url %q: no directory after text://", url)
		}
		if resolve != nil {
			dir = resolve(dir)
		}
		if strings.ContainsAny(cols.table, `/\`) {
			return nil, fmt.Errorf("table_name %q: a db_text table name cannot contain a path separator", cols.table)
		}
		return &fileSource{path: filepath.Join(dir, cols.table), cols: cols}, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return &pgSource{url: url, cols: cols}, nil
	}
	scheme, _, _ := strings.Cut(url, ":")
	return nil, fmt.Errorf("db_url: scheme %q is not supported (use postgres://… or text://DIR)", scheme)
}

// fileSource is the embedded store: a db_text table file.
type fileSource struct {
	path string
	cols columns
}

// maxFile bounds the table file: the lists live in memory.
const maxFile = 64 << 20

func (f *fileSource) Load(context.Context) ([]Rule, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("%s: larger than %d MiB", f.path, maxFile>>20)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	rules, err := parseDBText(data, f.cols.action, f.cols.typ, f.cols.data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	return rules, nil
}

func (f *fileSource) String() string { return "db_text file " + f.path }

// pgSource reads Kamailio's secfilter table from PostgreSQL.
type pgSource struct {
	url  string
	cols columns
}

func (p *pgSource) Load(ctx context.Context) ([]Rule, error) {
	pool, err := backend.Postgres(ctx, p.url)
	if err != nil {
		return nil, err
	}
	return p.query(ctx, pool)
}

func (p *pgSource) query(ctx context.Context, pool *pgxpool.Pool) ([]Rule, error) {
	q := "SELECT " + ident(p.cols.action) + ", " + ident(p.cols.typ) + ", " + ident(p.cols.data) +
		" FROM " + ident(p.cols.table)
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rules []Rule
	n := 0
	for rows.Next() {
		n++
		var a, t *int64
		var d *string
		if err := rows.Scan(&a, &t, &d); err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		if a == nil || t == nil || d == nil {
			return nil, fmt.Errorf("row %d: NULL in %s, %s or %s", n, p.cols.action, p.cols.typ, p.cols.data)
		}
		r := Rule{Action: Action(*a), Type: Type(*t), Data: *d}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("row %d (%s=%d, %s=%d, %s=%q): %w", n,
				p.cols.action, *a, p.cols.typ, *t, p.cols.data, clip(*d), err)
		}
		rules = append(rules, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return rules, nil
}

func (p *pgSource) String() string { return "postgres table " + p.cols.table }

// ident quotes a table or column name; "schema.table" names a table in
// another schema.
func ident(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}
