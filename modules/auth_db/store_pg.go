package authdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore reads subscribers from a table with Kamailio's layout (column
// names configurable). Each lookup is one indexed SELECT; the SQL text of
// each (table, columns, use_domain) shape is built once.
type pgStore struct {
	db                 *pgxpool.Pool
	userCol, domainCol string
	checkVersion       bool

	mu       sync.Mutex
	sqlCache map[string]string
	versions map[string]error // table -> result of its version check
}

func newPGStore(db *pgxpool.Pool, userCol, domainCol string, checkVersion bool) *pgStore {
	return &pgStore{db: db, userCol: userCol, domainCol: domainCol, checkVersion: checkVersion,
		sqlCache: map[string]string{}, versions: map[string]error{}}
}

func ident(name string) string { return pgx.Identifier(strings.Split(name, ".")).Sanitize() }

// query builds (once) the SELECT of a lookup shape. Every column is read
// as text and, for the integer test, as itself.
func (s *pgStore) query(q Query) (string, error) {
	key := q.Table + "\x00" + strconv.FormatBool(q.UseDomain) + "\x00" + strings.Join(q.Columns, "\x00")
	s.mu.Lock()
	defer s.mu.Unlock()
	if sql, ok := s.sqlCache[key]; ok {
		return sql, nil
	}
	if err := validIdent(q.Table); err != nil {
		return "", fmt.Errorf("table: %w", err)
	}
	cols := make([]string, 0, 2*len(q.Columns))
	for _, c := range q.Columns {
		if err := validIdent(c); err != nil || strings.Contains(c, ".") {
			return "", fmt.Errorf("column: invalid name %q", c)
		}
		cols = append(cols, ident(c)+"::text", ident(c))
	}
	sql := "SELECT " + strings.Join(cols, ", ") + " FROM " + ident(q.Table) + " WHERE " + ident(s.userCol) + " = $1"
	if q.UseDomain {
		sql += " AND " + ident(s.domainCol) + " = $2"
	}
	sql += " LIMIT 1"
	if len(s.sqlCache) < 256 {
		s.sqlCache[key] = sql
	}
	return sql, nil
}

// Lookup implements Store.
func (s *pgStore) Lookup(ctx context.Context, q Query) ([]Value, bool, error) {
	if err := s.version(ctx, q.Table); err != nil {
		return nil, false, err
	}
	sql, err := s.query(q)
	if err != nil {
		return nil, false, err
	}
	args := []any{q.User}
	if q.UseDomain {
		args = append(args, q.Domain)
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, false, rows.Err()
	}
	raw, err := rows.Values()
	if err != nil {
		return nil, false, err
	}
	vals := make([]Value, len(q.Columns))
	for i := range q.Columns {
		t, native := raw[2*i], raw[2*i+1]
		if t == nil {
			vals[i].Null = true
			continue
		}
		vals[i].Text, _ = t.(string)
		switch n := native.(type) {
		case int16:
			vals[i].Int, vals[i].IsInt = int64(n), true
		case int32:
			vals[i].Int, vals[i].IsInt = int64(n), true
		case int64:
			vals[i].Int, vals[i].IsInt = n, true
		}
	}
	return vals, true, rows.Err()
}

// version checks a table's row in Kamailio's version table once (with
// version_table 1): another version is an error for every lookup on that
// table; a missing version table or row is accepted.
func (s *pgStore) version(ctx context.Context, table string) error {
	if !s.checkVersion {
		return nil
	}
	s.mu.Lock()
	err, done := s.versions[table]
	s.mu.Unlock()
	if done {
		return err
	}
	err = checkTableVersion(ctx, s.db, table)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err // not judged: ask again next time
	}
	s.mu.Lock()
	if len(s.versions) < 256 {
		s.versions[table] = err
	}
	s.mu.Unlock()
	return err
}

// checkTableVersion compares the version table's row for table with the
// subscriber version this module reads.
func checkTableVersion(ctx context.Context, db *pgxpool.Pool, table string) error {
	var v int
	err := db.QueryRow(ctx, "SELECT table_version FROM version WHERE table_name = $1", table).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return nil // no version table: nothing to compare
		}
		return err
	case v != subscriberVersion:
		return fmt.Errorf("table %s has version %d in the version table, want %d (version_table 0 skips this check)", table, v, subscriberVersion)
	}
	return nil
}
