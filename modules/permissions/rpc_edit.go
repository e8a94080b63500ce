package permissions

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/rpc"
)

// The edit RPCs are luasbc's kamctl address/trusted add and rm done by the
// server: they change the table's source (the file, rewritten whole and
// renamed into place, or the database table) and reload it at once, so that
// the next request sees the change and a restart keeps it. An edit that
// would make the table fail to load is refused before anything is written.

// editTimeout bounds one edit with its reload.
const editTimeout = 30 * time.Second

var errNoMatch = errors.New("no matching record")

func (p *Permissions) editRPC() []rpc.Method {
	return []rpc.Method{
		{Name: "permissions.addressAdd", Params: "group ip[/mask] [port [tag]]",
			Doc: "luasbc: add an address record to address_file or the address table, then reload it. A bare IP is one address; port 0 any.",
			Fn:  p.rpcAddressAdd},
		{Name: "permissions.addressRm", Params: "group ip[/mask]",
			Doc: "luasbc: delete the address records of the group with that address (and mask, when given), then reload.",
			Fn:  p.rpcAddressRm},
		{Name: "permissions.addressShow",
			Doc: "luasbc: every loaded address record, in load order: group, ip (or domain), mask, port, tag.",
			Fn:  func(context.Context, rpc.Params) (any, error) { return p.addressShow(), nil }},
		{Name: "permissions.trustedAdd", Params: "src_ip proto [from_pattern [tag [priority]]]",
			Doc: "luasbc: add a trusted record to trusted_file or the trusted table, then reload it. An empty pattern is NULL (any From).",
			Fn:  p.rpcTrustedAdd},
		{Name: "permissions.trustedRm", Params: "src_ip",
			Doc: "luasbc: delete the trusted records of a source address, then reload.",
			Fn:  p.rpcTrustedRm},
	}
}

// strArgs reads string parameters; numbers are taken as their decimal text.
func strArgs(ps rpc.Params, min, max int, want string) ([]string, error) {
	if ps.Len() < min || ps.Len() > max {
		return nil, rpc.Errorf(400, "want %s", want)
	}
	out := make([]string, max)
	for i := 0; i < ps.Len(); i++ {
		if s, ok := ps.Str(i); ok {
			out[i] = s
		} else if n, ok := ps.Int(i); ok {
			out[i] = strconv.Itoa(n)
		} else {
			return nil, rpc.Errorf(400, "parameter %d: want a string or a number", i+1)
		}
		if strings.ContainsAny(out[i], "\r\n\x00") {
			return nil, rpc.Errorf(400, "parameter %d: control character", i+1)
		}
	}
	return out, nil
}

func (p *Permissions) rpcAddressAdd(ctx context.Context, ps rpc.Params) (any, error) {
	a, err := strArgs(ps, 2, 4, "group ip[/mask] [port [tag]]")
	if err != nil {
		return nil, err
	}
	r := addrRow{where: "new record"}
	if r.grp, err = strconv.ParseInt(a[0], 10, 64); err != nil {
		return nil, rpc.Errorf(400, "group %q: not a number", a[0])
	}
	if a[2] != "" {
		if r.port, err = strconv.ParseInt(a[2], 10, 64); err != nil {
			return nil, rpc.Errorf(400, "port %q: not a number", a[2])
		}
	}
	if a[3] != "" {
		tag := a[3]
		r.tag = &tag
	}
	r.addr, r.mask = a[1], 0
	if ip, bits, ok := strings.Cut(a[1], "/"); ok {
		n, err := strconv.ParseInt(bits, 10, 64)
		if err != nil {
			return nil, rpc.Errorf(400, "address %q: bad prefix length", a[1])
		}
		if n == 0 {
			// The tables read mask 0 as one address (Kamailio's files do), so
			// /0 could not be stored as "every address": refused, not narrowed.
			return nil, rpc.Errorf(400, "address %q: a /0 prefix cannot be stored; use 0.0.0.0/1 and 128.0.0.0/1", a[1])
		}
		r.addr, r.mask = ip, n
	}
	if _, err := addrEntryFrom(r); err != nil {
		return nil, rpc.Errorf(400, "%v", err)
	}
	if ip, err := netip.ParseAddr(strings.Trim(r.addr, "[]")); err == nil && r.mask == 0 && !strings.Contains(a[1], "/") {
		r.mask = int64(ip.BitLen()) // written out, as kamctl does: one address
	}
	err = p.edit(ctx, "address", func(ctx context.Context) error {
		switch src := p.addrSrc.(type) {
		case fileSource:
			tag := "-"
			if r.tag != nil {
				tag = *r.tag
			}
			if strings.ContainsAny(tag, " \t#") {
				return rpc.Errorf(400, "tag %q: the address file cannot hold blanks or '#'", tag)
			}
			line := fmt.Sprintf("%d %s %d %d", r.grp, r.addr, r.mask, r.port)
			if r.tag != nil {
				line += " " + tag
			}
			_, err := editFile(src.path, nil, line, func(data []byte) error {
				rows, err := parseAddressFile(src.path, data)
				if err == nil {
					_, err = buildAddrTable(rows, p.maxSubnets)
				}
				return err
			})
			return err
		case *pgSource:
			c := src.cols
			_, err := src.pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s, %s) VALUES ($1, $2, $3, $4, $5)",
				ident(c.addressTable), ident(c.grp), ident(c.ipAddr), ident(c.mask), ident(c.port), ident(c.tag)),
				r.grp, r.addr, r.mask, r.port, r.tag)
			return err
		}
		return noTableSource("address")
	}, p.reloadAddress)
	if err != nil {
		return nil, err
	}
	return "Added", nil
}

func (p *Permissions) rpcAddressRm(ctx context.Context, ps rpc.Params) (any, error) {
	a, err := strArgs(ps, 2, 2, "group ip[/mask]")
	if err != nil {
		return nil, err
	}
	grp, err := strconv.ParseInt(a[0], 10, 64)
	if err != nil {
		return nil, rpc.Errorf(400, "group %q: not a number", a[0])
	}
	want, err := addrEntryFrom(addrRow{grp: 1, addr: a[1]})
	if err != nil {
		return nil, rpc.Errorf(400, "%v", err)
	}
	withMask := strings.Contains(a[1], "/")
	matches := func(r addrRow) bool {
		e, err := addrEntryFrom(r)
		if err != nil || r.grp != grp || e.domain != want.domain {
			return false
		}
		if want.domain != "" {
			return true
		}
		if withMask {
			return e.prefix == want.prefix
		}
		return e.prefix.Addr() == want.prefix.Addr()
	}
	var n int
	err = p.edit(ctx, "address", func(ctx context.Context) error {
		switch src := p.addrSrc.(type) {
		case fileSource:
			n, err = editFile(src.path, func(line string) bool {
				rows, err := parseAddressFile(src.path, []byte(line))
				return err == nil && len(rows) == 1 && matches(rows[0])
			}, "", nil)
			return err
		case *pgSource:
			rows, err := src.loadAddresses(ctx)
			if err != nil {
				return err
			}
			var texts []string
			for _, r := range rows {
				if matches(r) {
					texts = append(texts, r.addr)
				}
			}
			if len(texts) == 0 {
				return errNoMatch
			}
			c := src.cols
			tag, err := src.pool.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = $1 AND %s = ANY($2)",
				ident(c.addressTable), ident(c.grp), ident(c.ipAddr)), grp, texts)
			n = int(tag.RowsAffected())
			return err
		}
		return noTableSource("address")
	}, p.reloadAddress)
	if err != nil {
		return nil, err
	}
	return map[string]any{"removed": n}, nil
}

func (p *Permissions) rpcTrustedAdd(ctx context.Context, ps rpc.Params) (any, error) {
	a, err := strArgs(ps, 2, 5, "src_ip proto [from_pattern [tag [priority]]]")
	if err != nil {
		return nil, err
	}
	r := trustedRow{where: "new record", src: canonicalSource(strings.TrimSpace(a[0])), proto: strings.ToLower(a[1])}
	if a[2] != "" {
		r.from = &a[2]
	}
	if a[3] != "" {
		r.tag = &a[3]
	}
	if a[4] != "" {
		if r.priority, err = strconv.ParseInt(a[4], 10, 64); err != nil {
			return nil, rpc.Errorf(400, "priority %q: not a number", a[4])
		}
	}
	if _, err := buildTrustedEntries([]trustedRow{r}, compileTrustedPattern); err != nil {
		return nil, rpc.Errorf(400, "%v", err)
	}
	err = p.edit(ctx, "trusted", func(ctx context.Context) error {
		switch src := p.trustSrc.(type) {
		case fileSource:
			opt := func(s *string) string {
				if s == nil {
					return "-"
				}
				return trustedField(*s)
			}
			line := fmt.Sprintf("%s %s %s - %s %d", trustedField(r.src), r.proto, opt(r.from), opt(r.tag), r.priority)
			_, err := editFile(src.path, nil, line, func(data []byte) error {
				rows, err := parseTrustedFile(src.path, data)
				if err == nil {
					_, err = buildTrustedEntries(rows, compileTrustedPattern)
				}
				return err
			})
			return err
		case *pgSource:
			c := src.cols
			_, err := src.pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s, %s) VALUES ($1, $2, $3, $4, $5)",
				ident(c.trustedTable), ident(c.src), ident(c.proto), ident(c.from), ident(c.tag), ident(c.priority)),
				r.src, r.proto, r.from, r.tag, r.priority)
			return err
		}
		return noTableSource("trusted")
	}, p.reloadTrustedIfCached)
	if err != nil {
		return nil, err
	}
	return "Added", nil
}

func (p *Permissions) rpcTrustedRm(ctx context.Context, ps rpc.Params) (any, error) {
	a, err := strArgs(ps, 1, 1, "src_ip")
	if err != nil {
		return nil, err
	}
	src := canonicalSource(strings.TrimSpace(a[0]))
	var n int
	err = p.edit(ctx, "trusted", func(ctx context.Context) error {
		switch s := p.trustSrc.(type) {
		case fileSource:
			n, err = editFile(s.path, func(line string) bool {
				rows, err := parseTrustedFile(s.path, []byte(line))
				return err == nil && len(rows) == 1 && canonicalSource(strings.TrimSpace(rows[0].src)) == src
			}, "", nil)
			return err
		case *pgSource:
			rows, err := s.loadTrusted(ctx)
			if err != nil {
				return err
			}
			var texts []string
			for _, r := range rows {
				if canonicalSource(strings.TrimSpace(r.src)) == src {
					texts = append(texts, r.src)
				}
			}
			if len(texts) == 0 {
				return errNoMatch
			}
			tag, err := s.pool.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ANY($1)", ident(s.cols.trustedTable), ident(s.cols.src)), texts)
			n = int(tag.RowsAffected())
			return err
		}
		return noTableSource("trusted")
	}, p.reloadTrustedIfCached)
	if err != nil {
		return nil, err
	}
	return map[string]any{"removed": n}, nil
}

// reloadTrustedIfCached reloads the trusted table unless db_mode 0 reads
// the database on every call (then the change is already seen).
func (p *Permissions) reloadTrustedIfCached(ctx context.Context) error {
	if p.trustQuery != nil {
		return nil
	}
	return p.reloadTrusted(ctx)
}

func noTableSource(table string) error {
	return rpc.Errorf(500, "the %s table has no source to write to: set %s_file or db_url", table, table)
}

// edit runs change and reload under the reload lock (waiting for a reload
// in progress; reload_delta limits operators' reloads, not edits) and maps
// errors to RPC errors.
func (p *Permissions) edit(ctx context.Context, table string, change func(context.Context) error, reload func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, editTimeout)
	defer cancel()
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	err := change(ctx)
	if err == nil {
		if err = reload(ctx); err != nil {
			err = fmt.Errorf("changed, but the reload failed (the loaded table stays): %w", err)
		}
	}
	var re *rpc.Error
	switch {
	case err == nil:
		p.log.Info("permissions: table edited", zap.String("table", table))
		return nil
	case errors.As(err, &re):
		return re
	case errors.Is(err, errNoMatch):
		return rpc.Errorf(404, "no matching %s record", table)
	}
	p.log.Error("permissions: table edit failed", zap.String("table", table), zap.Error(err))
	return rpc.Errorf(500, "%v", err)
}

// editFile rewrites a table file: lines for which drop is true go, add (if
// not empty) is appended, the other lines stay as written. The new content
// must pass validate before it replaces the file (a new file renamed over
// the old one, so the server never reads half a file). It returns the
// number of lines dropped; dropping none is errNoMatch.
func editFile(path string, drop func(line string) bool, add string, validate func([]byte) error) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var b strings.Builder
	n := 0
	for _, line := range lines(data) {
		if drop != nil && drop(line) {
			n++
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if drop != nil && n == 0 {
		return 0, errNoMatch
	}
	if add != "" {
		b.WriteString(add)
		b.WriteByte('\n')
	}
	out := []byte(b.String())
	if validate != nil {
		if err := validate(out); err != nil {
			return 0, rpc.Errorf(400, "not written: %v", err)
		}
	}
	return n, renameio.WriteFile(path, out, 0o644, renameio.WithExistingPermissions())
}

// trustedField writes a trusted file field, in quotes when it would not
// read back as itself bare (see splitQuoted).
func trustedField(s string) string {
	if s != "" && s != "-" && !strings.ContainsAny(s, " \t#\"") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (p *Permissions) addressShow() []map[string]any {
	t := p.addr.Load()
	out := []map[string]any{}
	if t == nil {
		return out
	}
	for i := range t.entries {
		e := &t.entries[i]
		r := map[string]any{"group": e.grp, "port": e.port, "tag": tagText(e.tag, e.hasTag)}
		if e.domain != "" {
			r["ip"], r["mask"] = e.domain, 0
		} else {
			r["ip"], r["mask"] = e.prefix.Addr().String(), e.prefix.Bits()
		}
		out = append(out, r)
	}
	return out
}
