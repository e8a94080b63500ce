package dispatcher

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/luasbc/luasbc/core/backend"
)

// pgColumns are the table and column names (Kamailio's modparams).
type pgColumns struct {
	table, setid, dest, flags, priority, attrs string
}

// pgSource reads Kamailio's dispatcher table (version 4):
//
//	dispatcher(id, setid, destination, flags, priority, attrs, description)
//
// plus the ds_db_extra_attrs columns, appended to attrs as name=value.
type pgSource struct {
	url   string
	cols  pgColumns
	extra []attrParam

	mu   sync.Mutex
	pool *pgxpool.Pool
}

func (s *pgSource) describe() string {
	if cfg, err := pgxpool.ParseConfig(s.url); err == nil {
		return fmt.Sprintf("postgres %s/%s table %s", cfg.ConnConfig.Host, cfg.ConnConfig.Database, s.cols.table)
	}
	return "postgres table " + s.cols.table
}

// ident quotes a table or column name; "schema.table" names a table in a
// schema.
func ident(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

func (s *pgSource) query() string {
	c := s.cols
	cols := []string{ident(c.setid), ident(c.dest), ident(c.flags), ident(c.priority), ident(c.attrs)}
	for _, x := range s.extra {
		cols = append(cols, ident(x.value))
	}
	return fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), ident(c.table))
}

func (s *pgSource) connect(ctx context.Context) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool != nil {
		return s.pool, nil
	}
	p, err := backend.Postgres(ctx, s.url)
	if err != nil {
		return nil, err
	}
	s.pool = p
	return p, nil
}

func (s *pgSource) load(ctx context.Context) (loaded, error) {
	pool, err := s.connect(ctx)
	if err != nil {
		return loaded{}, err
	}
	rows, err := pool.Query(ctx, s.query())
	if err != nil {
		return loaded{}, fmt.Errorf("table %s: %w", s.cols.table, err)
	}
	defer rows.Close()
	var l loaded
	for n := 1; rows.Next(); n++ {
		var setid, flags, prio *int64
		var dst, attrs *string
		extra := make([]*string, len(s.extra))
		dest := []any{&setid, &dst, &flags, &prio, &attrs}
		for i := range extra {
			dest = append(dest, &extra[i])
		}
		where := fmt.Sprintf("table %s, row %d", s.cols.table, n)
		if err := rows.Scan(dest...); err != nil {
			return loaded{}, fmt.Errorf("%s: %w", where, err)
		}
		if dst != nil {
			where += " (" + *dst + ")"
		}
		if setid == nil || dst == nil {
			l.bad = append(l.bad, fmt.Sprintf("%s: NULL in %s or %s", where, s.cols.setid, s.cols.dest))
			continue
		}
		if *setid < 0 || *setid > 1<<31-1 {
			l.bad = append(l.bad, fmt.Sprintf("%s: set id %d out of range", where, *setid))
			continue
		}
		r := row{where: where, setid: int(*setid), uri: *dst}
		if flags != nil {
			r.flags = int(*flags)
		}
		if prio != nil {
			r.priority = int(*prio)
		}
		if attrs != nil {
			r.attrs = *attrs
		}
		r.attrs = appendExtraAttrs(r.attrs, s.extra, extra)
		l.rows = append(l.rows, r)
	}
	if err := rows.Err(); err != nil {
		return loaded{}, fmt.Errorf("table %s: %w", s.cols.table, err)
	}
	return l, nil
}

// appendExtraAttrs adds "name=value" for each extra column with a value.
func appendExtraAttrs(attrs string, names []attrParam, vals []*string) string {
	for i, v := range vals {
		if v == nil || *v == "" {
			continue
		}
		if attrs != "" && !strings.HasSuffix(attrs, ";") {
			attrs += ";"
		}
		attrs += names[i].name + "=" + *v
	}
	return attrs
}
