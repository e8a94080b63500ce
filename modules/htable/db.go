package htable

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaSQL is Kamailio's htable table for PostgreSQL (kamailio-postgres
// 'htable' version 2), which dbtable tables follow unless cols is given.
const SchemaSQL = `CREATE TABLE htable (
    id SERIAL PRIMARY KEY NOT NULL,
    key_name VARCHAR(256) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(512) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL
);`

// dbColumns are the column names (modparams key_name_column, ...).
type dbColumns struct {
	name, ktype, vtype, value, expires string
	sizeSuffix                         string // array_size_suffix
	expiresFlag                        bool   // db_expires
}

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// tableIdent quotes a possibly schema-qualified table name.
func tableIdent(name string) string { return ident(strings.Split(name, ".")...) }

// loadDB reads a table's rows as Kamailio does: key_type 1 rows become the
// array items name[0], name[1]... plus name<array_size_suffix> holding their
// count; value_type 1 values are integers; with db_expires=1 (and
// autoexpire) the expires column is an absolute unix time, rows already
// expired are skipped. With cols, the first column is the name and the
// others are joined with coldelim into a string value.
func loadDB(ctx context.Context, pool *pgxpool.Pool, d *Def, c dbColumns, max int64) (map[string]entry, error) {
	if len(d.Cols) > 0 {
		return loadDBCols(ctx, pool, d, max)
	}
	withExp := c.expiresFlag && d.AutoExpire > 0
	cols := []string{ident(c.name), ident(c.ktype), ident(c.vtype), ident(c.value)}
	if withExp {
		cols = append(cols, ident(c.expires))
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + tableIdent(d.DBTable) + " ORDER BY " + ident(c.name)
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := time.Now()
	items := map[string]entry{}
	add := func(name string, e entry) error {
		if _, dup := items[name]; !dup && int64(len(items)) >= max {
			return fmt.Errorf("more rows than max_items (%d)", max)
		}
		items[name] = e
		return nil
	}
	arrayName, arrayLen := "", 0
	closeArray := func() error {
		if arrayName == "" {
			return nil
		}
		e := entry{val: Int(int64(arrayLen))}
		if d.AutoExpire > 0 {
			e.expire = now.UnixNano() + int64(d.AutoExpire)*int64(time.Second)
		}
		err := add(arrayName+c.sizeSuffix, e)
		arrayName, arrayLen = "", 0
		return err
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		name, err := dbText(vals[0], "")
		if err != nil || vals[0] == nil {
			return nil, fmt.Errorf("column %s must be non-null text (got %T)", c.name, vals[0])
		}
		var expire int64
		if withExp {
			exp, err := dbInt(vals[4])
			if err != nil {
				return nil, fmt.Errorf("key %q: column %s: %v", name, c.expires, err)
			}
			if exp > 0 && exp < now.Unix() {
				continue
			}
			if exp > 0 {
				expire = exp * int64(time.Second)
			}
		}
		ktype, err := dbInt(vals[1])
		if err != nil {
			return nil, fmt.Errorf("key %q: column %s: %v", name, c.ktype, err)
		}
		vtype, err := dbInt(vals[2])
		if err != nil {
			return nil, fmt.Errorf("key %q: column %s: %v", name, c.vtype, err)
		}
		var v Value
		if vtype == 1 {
			n, err := dbInt(vals[3])
			if err != nil {
				return nil, fmt.Errorf("key %q: integer value: %v", name, err)
			}
			v = Int(n)
		} else {
			s, err := dbText(vals[3], "")
			if err != nil {
				return nil, fmt.Errorf("key %q: column %s: %v", name, c.value, err)
			}
			v = Str(s)
		}
		if arrayName != "" && arrayName != name {
			if err := closeArray(); err != nil {
				return nil, err
			}
		}
		item := name
		if ktype == 1 {
			arrayName = name
			item = name + "[" + strconv.Itoa(arrayLen) + "]"
			arrayLen++
		}
		if expire == 0 && d.AutoExpire > 0 {
			expire = now.UnixNano() + int64(d.AutoExpire)*int64(time.Second)
		}
		if err := add(item, entry{val: v, expire: expire}); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := closeArray(); err != nil {
		return nil, err
	}
	return items, nil
}

// loadDBCols loads a cols table: values packed with coldelim.
func loadDBCols(ctx context.Context, pool *pgxpool.Pool, d *Def, max int64) (map[string]entry, error) {
	cols := make([]string, len(d.Cols))
	for i, c := range d.Cols {
		cols[i] = ident(c)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + tableIdent(d.DBTable) + " ORDER BY " + cols[0]
	rows, err := pool.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := map[string]entry{}
	expire := int64(0)
	if d.AutoExpire > 0 {
		expire = time.Now().UnixNano() + int64(d.AutoExpire)*int64(time.Second)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		name, err := dbText(vals[0], "")
		if err != nil || vals[0] == nil {
			return nil, fmt.Errorf("column %s: the key must not be null", d.Cols[0])
		}
		parts := make([]string, len(vals)-1)
		for i, x := range vals[1:] {
			if parts[i], err = dbText(x, d.ColNull); err != nil {
				return nil, fmt.Errorf("key %q: column %s: %v", name, d.Cols[i+1], err)
			}
		}
		if _, dup := items[name]; !dup && int64(len(items)) >= max {
			return nil, fmt.Errorf("more rows than max_items (%d)", max)
		}
		items[name] = entry{val: Str(strings.Join(parts, string(d.ColDelim))), expire: expire}
	}
	return items, rows.Err()
}

// dbInt reads an integer column (or text holding one).
func dbInt(x any) (int64, error) {
	switch v := x.(type) {
	case int16:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not an integer: %q", v)
		}
		return n, nil
	case nil:
		return 0, fmt.Errorf("null")
	}
	return 0, fmt.Errorf("unsupported type %T", x)
}

// dbText renders a column as text; null gives null.
func dbText(x any, null string) (string, error) {
	switch v := x.(type) {
	case nil:
		return null, nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case int16, int32, int64, bool, float32, float64:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("unsupported type %T", x)
}

// storeDB writes the live items back (dbmode=1 at shutdown, htable.store):
// the table's rows are replaced in one transaction. Tables loaded with cols
// are not written back, as in Kamailio.
func storeDB(ctx context.Context, pool *pgxpool.Pool, d *Def, c dbColumns, items []Item) error {
	if len(d.Cols) > 0 {
		return fmt.Errorf("tables with cols are not written back")
	}
	withExp := c.expiresFlag && d.AutoExpire > 0
	cols := []string{c.name, c.ktype, c.vtype, c.value}
	if withExp {
		cols = append(cols, c.expires)
	}
	rows := make([][]any, 0, len(items))
	for _, it := range items {
		vtype, text := 0, it.Val.S
		if !it.Val.IsStr {
			vtype, text = 1, strconv.FormatInt(it.Val.I, 10)
		}
		row := []any{it.Name, int32(0), int32(vtype), text}
		if withExp {
			row = append(row, int32(it.Expire/int64(time.Second)))
		}
		rows = append(rows, row)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "DELETE FROM "+tableIdent(d.DBTable)); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier(strings.Split(d.DBTable, ".")), cols, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
