package authdb

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/rpc"
)

// The subscriber.* RPCs are luasbc's kamctl add/rm/passwd/show done by the
// server, so that sbcctl needs neither database credentials nor write access
// to the subscriber file, and both stores get the same HA1 rules.

// maxShow caps subscriber.show: a table dump to a terminal, not an export.
const maxShow = 10000

// subscriberTimeout bounds one subscriber.* call on the database.
const subscriberTimeout = 10 * time.Second

// subscriberInfo is one row of subscriber.show. Secrets are not returned:
// only whether they are set.
type subscriberInfo struct {
	Username    string            `json:"username"`
	Domain      string            `json:"domain"`
	HasPassword bool              `json:"has_password"`
	HasHA1      bool              `json:"has_ha1"`
	Columns     map[string]string `json:"columns,omitempty"`
}

// errNotFound, errExists and errAmbiguous map to RPC codes 404, 409, 409.
var (
	errNotFound  = errors.New("not found")
	errExists    = errors.New("already exists")
	errAmbiguous = errors.New("ambiguous")
)

// secrets computes what kamctl stores for a password: ha1 over
// user:domain:password and ha1b over user@domain:domain:password (MD5, the
// algorithm Kamailio's columns are for).
func secrets(user, domain, password string) (ha1, ha1b string) {
	sum := func(s string) string {
		h := md5.Sum([]byte(s))
		return hex.EncodeToString(h[:])
	}
	return sum(user + ":" + domain + ":" + password), sum(user + "@" + domain + ":" + domain + ":" + password)
}

// secretColumns are the column values a password sets: ha1 and ha1b, the
// configured password columns when they are others, and the plain password
// only with calculate_ha1 1 — with 0 the point is not to keep it.
func (d *AuthDB) secretColumns(user, domain, password string) map[string]string {
	ha1, ha1b := secrets(user, domain, password)
	cols := map[string]string{"ha1": ha1, "ha1b": ha1b}
	if d.calcHA1 {
		cols["password"] = password
		cols[d.passCol] = password
	} else {
		cols["password"] = ""
		cols[d.passCol], cols[d.passCol2] = ha1, ha1b
	}
	return cols
}

// sortedKeys gives the columns in a fixed order, so that one statement
// text serves every call.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// subscriberRPC are the subscriber.* methods.
func (d *AuthDB) subscriberRPC() []rpc.Method {
	return []rpc.Method{
		{Name: "subscriber.add", Params: "username domain password [table]",
			Doc: "luasbc: add a subscriber (as kamctl add): the password, its ha1 and ha1b (MD5), in subscriber_file or the table (default subscriber).",
			Fn:  d.rpcAdd},
		{Name: "subscriber.passwd", Params: "username domain password [table]",
			Doc: "luasbc: change a subscriber's password, ha1 and ha1b; an empty domain matches a username that is in one domain only.",
			Fn:  d.rpcPasswd},
		{Name: "subscriber.rm", Params: "username domain [table]",
			Doc: "luasbc: delete a subscriber; an empty domain matches a username that is in one domain only.",
			Fn:  d.rpcRm},
		{Name: "subscriber.show", Params: "[username [domain [table]]]",
			Doc: "luasbc: subscribers (all, or one username, or username and domain): username, domain, has_password, has_ha1 and, from a file, the other columns.",
			Fn:  d.rpcShow},
	}
}

// subscriberArgs reads username, domain, [password,] [table] and checks them.
func subscriberArgs(ps rpc.Params, withPassword bool) (user, domain, password, table string, err error) {
	n := 2
	if withPassword {
		n = 3
	}
	vals := make([]string, n+1)
	for i := 0; i <= n && i < ps.Len(); i++ {
		s, ok := ps.Str(i)
		if !ok {
			return "", "", "", "", rpc.Errorf(400, "parameter %d is not a string", i+1)
		}
		vals[i] = s
	}
	if ps.Len() < n {
		return "", "", "", "", rpc.Errorf(400, "want %s", map[bool]string{true: "username domain password [table]", false: "username domain [table]"}[withPassword])
	}
	user, domain, table = vals[0], vals[1], vals[n]
	if withPassword {
		password = vals[2]
	}
	if err := checkSubscriberText(user, domain, password); err != nil {
		return "", "", "", "", err
	}
	if user == "" {
		return "", "", "", "", rpc.Errorf(400, "empty username")
	}
	if withPassword && password == "" {
		return "", "", "", "", rpc.Errorf(400, "empty password (it would never authenticate)")
	}
	if table == "" {
		table = "subscriber"
	}
	if validIdent(table) != nil {
		return "", "", "", "", rpc.Errorf(400, "table %q is not an SQL name", table)
	}
	return user, domain, password, table, nil
}

// checkSubscriberText keeps values within Kamailio's column sizes and free of
// control characters, which the subscriber file cannot hold.
func checkSubscriberText(vals ...string) error {
	for _, v := range vals {
		if len(v) > 64 {
			return rpc.Errorf(400, "%q: longer than 64 characters", v[:16]+"...")
		}
		for i := 0; i < len(v); i++ {
			if v[i] < ' ' || v[i] == 0x7f {
				return rpc.Errorf(400, "control character in %q", v)
			}
		}
	}
	return nil
}

func subscriberName(user, domain string) string {
	if domain == "" {
		return user
	}
	return user + "@" + domain
}

// rpcErr turns an edit error into an RPC error naming the subscriber.
func (d *AuthDB) rpcErr(op, user, domain string, err error) error {
	name := subscriberName(user, domain)
	switch {
	case errors.Is(err, errNotFound):
		return rpc.Errorf(404, "subscriber %s not found", name)
	case errors.Is(err, errExists):
		return rpc.Errorf(409, "subscriber %s already exists", name)
	case errors.Is(err, errAmbiguous):
		return rpc.Errorf(409, "%s is in several domains: give username and domain", user)
	}
	d.log.Error("auth_db: subscriber "+op+" failed", zap.String("subscriber", name), zap.Error(err))
	return rpc.Errorf(500, "%s %s: %v", op, name, err)
}

func (d *AuthDB) rpcAdd(ctx context.Context, ps rpc.Params) (any, error) {
	user, domain, password, table, err := subscriberArgs(ps, true)
	if err != nil {
		return nil, err
	}
	if domain == "" && !d.calcHA1 {
		return nil, rpc.Errorf(400, "a domain is needed: the ha1 is computed with it as the realm (calculate_ha1 is 0)")
	}
	if d.file != nil {
		err = d.fileEdit(func(rows []fileLine) ([]fileLine, error) {
			if i := findLine(rows, user, domain); i >= 0 {
				return nil, errExists
			}
			row := fileRow{"username": user, "domain": domain}
			for k, v := range d.secretColumns(user, domain, password) {
				row[k] = v
			}
			return append(rows, fileLine{row: row}), nil
		})
	} else {
		err = d.pgAdd(ctx, table, user, domain, password)
	}
	if err != nil {
		return nil, d.rpcErr("add", user, domain, err)
	}
	d.log.Info("auth_db: subscriber added", zap.String("subscriber", subscriberName(user, domain)))
	return map[string]any{"added": subscriberName(user, domain)}, nil
}

func (d *AuthDB) rpcPasswd(ctx context.Context, ps rpc.Params) (any, error) {
	return d.editExisting(ctx, ps, true)
}

func (d *AuthDB) rpcRm(ctx context.Context, ps rpc.Params) (any, error) {
	return d.editExisting(ctx, ps, false)
}

// editExisting changes the password of one subscriber (passwd) or removes
// it (rm).
func (d *AuthDB) editExisting(ctx context.Context, ps rpc.Params, passwd bool) (any, error) {
	op, done := "rm", "removed"
	if passwd {
		op, done = "passwd", "changed"
	}
	user, domain, password, table, err := subscriberArgs(ps, passwd)
	if err != nil {
		return nil, err
	}
	var name string
	if d.file != nil {
		err = d.fileEdit(func(rows []fileLine) ([]fileLine, error) {
			i, err := matchLine(rows, user, domain)
			if err != nil {
				return nil, err
			}
			row := rows[i].row
			name = subscriberName(user, row["domain"])
			if !passwd {
				return append(rows[:i], rows[i+1:]...), nil
			}
			for k, v := range d.secretColumns(user, row["domain"], password) {
				row[k] = v
			}
			rows[i] = fileLine{row: row}
			return rows, nil
		})
	} else {
		name, err = d.pgEdit(ctx, table, user, domain, password, passwd)
	}
	if err != nil {
		return nil, d.rpcErr(op, user, domain, err)
	}
	d.log.Info("auth_db: subscriber "+done, zap.String("subscriber", name))
	return map[string]any{done: name}, nil
}

func (d *AuthDB) rpcShow(ctx context.Context, ps rpc.Params) (any, error) {
	var vals [3]string
	for i := 0; i < 3 && i < ps.Len(); i++ {
		s, ok := ps.Str(i)
		if !ok {
			return nil, rpc.Errorf(400, "parameter %d is not a string", i+1)
		}
		vals[i] = s
	}
	user, domain, table := vals[0], vals[1], vals[2]
	if table == "" {
		table = "subscriber"
	}
	if validIdent(table) != nil {
		return nil, rpc.Errorf(400, "table %q is not an SQL name", table)
	}
	var out []subscriberInfo
	var err error
	if d.file != nil {
		out = d.fileShow(user, domain)
	} else {
		out, err = d.pgShow(ctx, table, user, domain)
	}
	if err != nil {
		return nil, d.rpcErr("show", user, domain, err)
	}
	if user != "" && len(out) == 0 {
		return nil, rpc.Errorf(404, "subscriber %s not found", subscriberName(user, domain))
	}
	if out == nil {
		out = []subscriberInfo{}
	}
	return out, nil
}

// --- the subscriber file ---

// fileLine is one line of the subscriber file: kept as written (text)
// unless the edit replaced or added its row.
type fileLine struct {
	text string
	row  fileRow // nil for blank and comment lines
	keep bool    // row was parsed from text, which is written back unchanged
}

// fileMu serializes edits of subscriber files (read, change, rename).
var fileMu sync.Mutex

// fileEdit reads the subscriber file, lets edit change its rows, writes the
// result to a new file renamed over the old one (readers see the old or
// the new file, never a part) and reloads it. Lines the edit did not touch
// keep their text and comments.
func (d *AuthDB) fileEdit(edit func([]fileLine) ([]fileLine, error)) error {
	fileMu.Lock()
	defer fileMu.Unlock()
	path := d.file.path
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil // the embedded default starts without the file: the first add creates it
	}
	if err != nil {
		return err
	}
	if _, err := parseSubscriberFile(path, data); err != nil {
		return fmt.Errorf("the file does not parse, not changing it: %w", err)
	}
	var rows []fileLine
	text := strings.TrimSuffix(string(data), "\n")
	if text != "" {
		for _, line := range strings.Split(text, "\n") {
			fl := fileLine{text: line}
			if fields, _ := splitFields(strings.TrimSuffix(line, "\r")); len(fields) > 0 {
				fl.row, _ = rowOf(fields)
				fl.keep = true
			}
			rows = append(rows, fl)
		}
	}
	rows, err = edit(rows)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range rows {
		if r.row != nil && !r.keep {
			b.WriteString(formatRow(r.row))
		} else {
			b.WriteString(r.text)
		}
		b.WriteByte('\n')
	}
	if _, err := parseSubscriberFile(path, []byte(b.String())); err != nil {
		return fmt.Errorf("the edited file would not parse: %w", err)
	}
	if err := renameio.WriteFile(path, []byte(b.String()), 0o600, renameio.WithExistingPermissions()); err != nil {
		return err
	}
	_, err = d.file.Reload()
	return err
}

// findLine is the index of the row (user, domain), or -1.
func findLine(rows []fileLine, user, domain string) int {
	for i, r := range rows {
		if r.row != nil && r.row["username"] == user && r.row["domain"] == domain {
			return i
		}
	}
	return -1
}

// matchLine finds (user, domain), or with an empty domain the one row of
// user.
func matchLine(rows []fileLine, user, domain string) (int, error) {
	if domain != "" {
		if i := findLine(rows, user, domain); i >= 0 {
			return i, nil
		}
		return -1, errNotFound
	}
	found := -1
	for i, r := range rows {
		if r.row != nil && r.row["username"] == user {
			if found >= 0 {
				return -1, errAmbiguous
			}
			found = i
		}
	}
	if found < 0 {
		return -1, errNotFound
	}
	return found, nil
}

// formatRow writes a row in the file format: username domain password ha1
// ha1b, then the other columns as name=value, sorted.
func formatRow(r fileRow) string {
	parts := []string{fileField(r["username"]), fileField(r["domain"]), fileField(r["password"]),
		fileField(r["ha1"]), fileField(r["ha1b"])}
	var extra []string
	for k := range r {
		switch k {
		case "username", "domain", "password", "ha1", "ha1b":
			continue
		}
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		v := r[k]
		if v == "" || strings.ContainsAny(v, " \t#\"\\") {
			v = quoteField(v)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// fileField writes a positional field: "-" when empty, quoted when it
// would otherwise read as something else.
func fileField(s string) string {
	if s == "" {
		return "-"
	}
	if s == "-" || strings.ContainsAny(s, " \t#\"\\=") {
		return quoteField(s)
	}
	return s
}

func quoteField(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (d *AuthDB) fileShow(user, domain string) []subscriberInfo {
	t := d.file.tab.Load()
	var out []subscriberInfo
	for _, r := range t.rows {
		if user != "" && r["username"] != user || domain != "" && r["domain"] != domain {
			continue
		}
		info := subscriberInfo{Username: r["username"], Domain: r["domain"],
			HasPassword: r["password"] != "", HasHA1: r["ha1"] != ""}
		for k, v := range r {
			switch k {
			case "username", "domain", "password", "ha1", "ha1b", d.passCol, d.passCol2:
				continue
			}
			if info.Columns == nil {
				info.Columns = map[string]string{}
			}
			info.Columns[k] = v
		}
		out = append(out, info)
		if len(out) == maxShow {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Username != out[j].Username {
			return out[i].Username < out[j].Username
		}
		return out[i].Domain < out[j].Domain
	})
	return out
}

// --- PostgreSQL ---

func (d *AuthDB) pg() (*pgStore, error) {
	s, ok := d.store.(*pgStore)
	if !ok {
		return nil, errors.New("no subscriber database (not started)")
	}
	return s, nil
}

func (d *AuthDB) pgAdd(ctx context.Context, table, user, domain, password string) error {
	s, err := d.pg()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, subscriberTimeout)
	defer cancel()
	cols := []string{ident(d.userCol), ident(d.domainCol)}
	args := []any{user, domain}
	secret := d.secretColumns(user, domain, password)
	for _, k := range sortedKeys(secret) {
		cols = append(cols, ident(k))
		args = append(args, secret[k])
	}
	ph := make([]string, len(args))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d::text", i+1)
	}
	// NOT EXISTS rather than relying on the unique index: a table made
	// by hand may lack it.
	sql := "INSERT INTO " + ident(table) + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(ph, ", ") +
		" WHERE NOT EXISTS (SELECT 1 FROM " + ident(table) + " WHERE " + ident(d.userCol) + " = $1 AND " + ident(d.domainCol) + " = $2)"
	tag, err := s.db.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errExists
	}
	return nil
}

// pgMatch finds the domain of (user, domain), or with an empty domain of
// the one row of user.
func (d *AuthDB) pgMatch(ctx context.Context, s *pgStore, table, user, domain string) (string, error) {
	sql := "SELECT " + ident(d.domainCol) + " FROM " + ident(table) + " WHERE " + ident(d.userCol) + " = $1"
	args := []any{user}
	if domain != "" {
		sql += " AND " + ident(d.domainCol) + " = $2"
		args = append(args, domain)
	}
	rows, err := s.db.Query(ctx, sql+" LIMIT 2", args...)
	if err != nil {
		return "", err
	}
	domains, err := pgx.CollectRows(rows, pgx.RowTo[string])
	switch {
	case err != nil:
		return "", err
	case len(domains) == 0:
		return "", errNotFound
	case len(domains) > 1:
		return "", errAmbiguous
	}
	return domains[0], nil
}

// pgEdit updates the password columns of one subscriber (passwd) or
// deletes it.
func (d *AuthDB) pgEdit(ctx context.Context, table, user, domain, password string, passwd bool) (string, error) {
	s, err := d.pg()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, subscriberTimeout)
	defer cancel()
	if domain, err = d.pgMatch(ctx, s, table, user, domain); err != nil {
		return "", err
	}
	where := " WHERE " + ident(d.userCol) + " = $1 AND " + ident(d.domainCol) + " = $2"
	sql, args := "DELETE FROM "+ident(table)+where, []any{user, domain}
	if passwd {
		secret := d.secretColumns(user, domain, password)
		names := sortedKeys(secret)
		set := make([]string, len(names))
		for i, k := range names {
			set[i] = fmt.Sprintf("%s = $%d", ident(k), i+3)
			args = append(args, secret[k])
		}
		sql = "UPDATE " + ident(table) + " SET " + strings.Join(set, ", ") + where
	}
	tag, err := s.db.Exec(ctx, sql, args...)
	if err != nil {
		return "", err
	}
	if tag.RowsAffected() == 0 {
		return "", errNotFound
	}
	return subscriberName(user, domain), nil
}

func (d *AuthDB) pgShow(ctx context.Context, table, user, domain string) ([]subscriberInfo, error) {
	s, err := d.pg()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, subscriberTimeout)
	defer cancel()
	sql := "SELECT " + ident(d.userCol) + "::text, " + ident(d.domainCol) + "::text, COALESCE(" + ident("password") +
		", '') <> '', COALESCE(" + ident("ha1") + ", '') <> '' FROM " + ident(table)
	var args []any
	if user != "" {
		sql += " WHERE " + ident(d.userCol) + " = $1"
		args = append(args, user)
		if domain != "" {
			sql += " AND " + ident(d.domainCol) + " = $2"
			args = append(args, domain)
		}
	}
	sql += fmt.Sprintf(" ORDER BY 1, 2 LIMIT %d", maxShow)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (subscriberInfo, error) {
		var i subscriberInfo
		err := r.Scan(&i.Username, &i.Domain, &i.HasPassword, &i.HasHA1)
		return i, err
	})
}
