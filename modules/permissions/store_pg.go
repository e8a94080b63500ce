package permissions

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgColumns are the table and column names (Kamailio's modparams).
type pgColumns struct {
	addressTable, grp, ipAddr, mask, port          string
	trustedTable, src, proto, from, ruri, priority string
	tag                                            string // shared by both tables, as in Kamailio
}

// pgSource reads Kamailio's address and trusted tables:
//
//	address(id, grp, ip_addr, mask, port, tag)
//	trusted(id, src_ip, proto, from_pattern, ruri_pattern, tag, priority)
type pgSource struct {
	pool *pgxpool.Pool
	cols pgColumns
	host string // for describe, without credentials
}

func (s *pgSource) describe() string { return "postgres " + s.host }

// ident quotes a table or column name; "schema.table" names a table in a
// schema.
func ident(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

func (s *pgSource) addressQuery() string {
	c := s.cols
	return fmt.Sprintf("SELECT %s, %s, %s, %s, %s FROM %s", ident(c.grp), ident(c.ipAddr), ident(c.mask),
		ident(c.port), ident(c.tag), ident(c.addressTable))
}

func (s *pgSource) loadAddresses(ctx context.Context) ([]addrRow, error) {
	rows, err := s.pool.Query(ctx, s.addressQuery())
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", s.cols.addressTable, err)
	}
	defer rows.Close()
	var out []addrRow
	for n := 1; rows.Next(); n++ {
		var grp, mask, port *int64
		var ip, tag *string
		if err := rows.Scan(&grp, &ip, &mask, &port, &tag); err != nil {
			return nil, fmt.Errorf("table %s, row %d: %w", s.cols.addressTable, n, err)
		}
		where := fmt.Sprintf("table %s, row %d", s.cols.addressTable, n)
		if ip != nil {
			where += " (" + *ip + ")"
		}
		if grp == nil || ip == nil || mask == nil || port == nil {
			return nil, fmt.Errorf("%s: NULL in %s, %s, %s or %s", where, s.cols.grp, s.cols.ipAddr, s.cols.mask, s.cols.port)
		}
		out = append(out, addrRow{where: where, grp: *grp, addr: *ip, mask: *mask, port: *port, tag: tag})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table %s: %w", s.cols.addressTable, err)
	}
	return out, nil
}

func (s *pgSource) trustedColumns() string {
	c := s.cols
	return strings.Join([]string{ident(c.src), ident(c.proto), ident(c.from), ident(c.ruri), ident(c.tag), ident(c.priority)}, ", ")
}

func (s *pgSource) loadTrusted(ctx context.Context) ([]trustedRow, error) {
	q := fmt.Sprintf("SELECT %s FROM %s", s.trustedColumns(), ident(s.cols.trustedTable))
	return s.scanTrusted(ctx, q)
}

// queryTrusted is db_mode 0: the rows of one source address, highest
// priority first (the cached table uses the same order).
func (s *pgSource) queryTrusted(ctx context.Context, src string) ([]trustedRow, error) {
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = $1 ORDER BY %s DESC", s.trustedColumns(),
		ident(s.cols.trustedTable), ident(s.cols.src), ident(s.cols.priority))
	return s.scanTrusted(ctx, q, src)
}

func (s *pgSource) scanTrusted(ctx context.Context, q string, args ...any) ([]trustedRow, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", s.cols.trustedTable, err)
	}
	defer rows.Close()
	var out []trustedRow
	for n := 1; rows.Next(); n++ {
		var src, proto, from, ruri, tag *string
		var prio *int64
		if err := rows.Scan(&src, &proto, &from, &ruri, &tag, &prio); err != nil {
			return nil, fmt.Errorf("table %s, row %d: %w", s.cols.trustedTable, n, err)
		}
		where := fmt.Sprintf("table %s, row %d", s.cols.trustedTable, n)
		if src != nil {
			where += " (" + *src + ")"
		}
		if src == nil || proto == nil {
			return nil, fmt.Errorf("%s: NULL in %s or %s", where, s.cols.src, s.cols.proto)
		}
		r := trustedRow{where: where, src: *src, proto: *proto, from: from, ruri: ruri, tag: tag}
		if prio != nil {
			r.priority = *prio
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table %s: %w", s.cols.trustedTable, err)
	}
	return out, nil
}
