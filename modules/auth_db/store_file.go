package authdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
)

// The subscriber file: one subscriber a line,
//
//	username domain password [ha1 [ha1b]] [column=value ...]
//
// separated by blanks; '#' starts a comment outside quotes. A field is a
// bare word or a double-quoted string with \" and \\ escapes; a bare "-" is
// empty. The fourth and fifth fields are ha1 and ha1b unless they are
// column=value pairs, which add other columns (for load_credentials). The
// password is always the third field, so "a=b" there is a password.
// Username and domain are matched exactly (as PostgreSQL does).

// Limits of the file, so that a wrong path (a log, a binary) fails fast.
const (
	maxFileSize = 64 << 20
	maxLine     = 8192
	maxColumns  = 32
)

// fileRow is one subscriber: column name -> value.
type fileRow map[string]string

// fileTable is a loaded subscriber file.
type fileTable struct {
	rows     []fileRow
	byDomain map[[2]string]int // (username, domain) -> row
	byUser   map[string]int    // username -> first row in the file
}

// parseSubscriberFile reads the file format above; name prefixes errors.
func parseSubscriberFile(name string, data []byte) (*fileTable, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
	}
	t := &fileTable{byDomain: map[[2]string]int{}, byUser: map[string]int{}}
	lines := map[[2]string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		ln := n + 1
		line = strings.TrimSuffix(line, "\r")
		if len(line) > maxLine {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, ln, maxLine)
		}
		fields, err := splitFields(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, ln, err)
		}
		if len(fields) == 0 {
			continue
		}
		row, err := rowOf(fields)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, ln, err)
		}
		key := [2]string{row["username"], row["domain"]}
		if first, dup := lines[key]; dup {
			return nil, fmt.Errorf("%s:%d: subscriber %s@%s already on line %d", name, ln, key[0], key[1], first)
		}
		lines[key] = ln
		t.byDomain[key] = len(t.rows)
		if _, ok := t.byUser[key[0]]; !ok {
			t.byUser[key[0]] = len(t.rows)
		}
		t.rows = append(t.rows, row)
	}
	return t, nil
}

// field is one parsed field; quoted fields are never "-" = empty nor
// column=value pairs.
type field struct {
	s      string
	quoted bool
}

// splitFields splits a line into fields (quotes, escapes, comments). A
// column=value pair may quote its value: email="Alice <a@x>".
func splitFields(line string) ([]field, error) {
	var out []field
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			return out, nil
		}
		if len(out) == maxColumns {
			return nil, errors.New("too many fields")
		}
		if line[i] == '"' {
			v, next, err := readQuoted(line, i)
			if err != nil {
				return nil, err
			}
			out = append(out, field{s: v, quoted: true})
			i = next
			continue
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '#' {
			c := line[i]
			if c == '"' {
				name, ok := strings.CutSuffix(line[start:i], "=")
				if !ok || validIdent(name) != nil || strings.Contains(name, ".") {
					return nil, errors.New("quote inside a bare field")
				}
				v, next, err := readQuoted(line, i)
				if err != nil {
					return nil, err
				}
				out = append(out, field{s: name + "=" + v})
				i = next
				break
			}
			if c < ' ' || c == 0x7f {
				return nil, errors.New("control character")
			}
			i++
		}
		if i == start || line[i-1] != '"' {
			out = append(out, field{s: line[start:i]})
		}
	}
}

// readQuoted reads the quoted string starting at line[i] ('"'); it returns
// the value and the index after the closing quote, which must end the field.
func readQuoted(line string, i int) (string, int, error) {
	var b strings.Builder
	i++
	for i < len(line) {
		c := line[i]
		if c == '"' {
			i++
			if i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '#' {
				return "", 0, errors.New("text right after a closing quote")
			}
			return b.String(), i, nil
		}
		if c == '\\' {
			if i+1 >= len(line) {
				break
			}
			i++
			c = line[i]
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return "", 0, errors.New("control character in a quoted field")
		}
		b.WriteByte(c)
		i++
	}
	return "", 0, errors.New("unterminated quote")
}

// rowOf maps the fields of a line to columns.
func rowOf(fs []field) (fileRow, error) {
	if len(fs) < 3 {
		return nil, errors.New("want username domain password [ha1 [ha1b]] [column=value ...]")
	}
	val := func(f field) string {
		if !f.quoted && f.s == "-" {
			return ""
		}
		return f.s
	}
	row := fileRow{"username": val(fs[0]), "domain": val(fs[1]), "password": val(fs[2])}
	if row["username"] == "" {
		return nil, errors.New("empty username")
	}
	pos := []string{"ha1", "ha1b"}
	for _, f := range fs[3:] {
		if name, v, ok := strings.Cut(f.s, "="); ok && !f.quoted && validIdent(name) == nil && !strings.Contains(name, ".") {
			if _, dup := row[name]; dup {
				return nil, fmt.Errorf("column %s given twice", name)
			}
			row[name] = v
			pos = nil // positional fields end at the first pair
			continue
		}
		if len(pos) == 0 {
			return nil, fmt.Errorf("unexpected field %q (want column=value)", f.s)
		}
		row[pos[0]] = val(f)
		pos = pos[1:]
	}
	return row, nil
}

// lookup finds a subscriber's row.
func (t *fileTable) lookup(user, domain string, useDomain bool) (fileRow, bool) {
	var i int
	var ok bool
	if useDomain {
		i, ok = t.byDomain[[2]string{user, domain}]
	} else {
		i, ok = t.byUser[user]
	}
	if !ok {
		return nil, false
	}
	return t.rows[i], true
}

// fileStore serves lookups from the loaded file; Reload replaces it whole
// or not at all.
type fileStore struct {
	path string
	tab  atomic.Pointer[fileTable]
}

// newFileStore loads the file. A file that does not exist yet is no
// subscribers (everyone is challenged, nobody passes), so that a default
// config starts before the operator has written one; missing reports it for
// the log. auth_db.reload reads it once it exists.
func newFileStore(path string) (s *fileStore, missing bool, err error) {
	s = &fileStore{path: path}
	if _, err := s.Reload(); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
		t, _ := parseSubscriberFile(path, nil)
		s.tab.Store(t)
		return s, true, nil
	}
	return s, false, nil
}

// Reload reads the file again; on error the loaded subscribers stay.
func (s *fileStore) Reload() (int, error) {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return 0, fmt.Errorf("subscriber_file: %w", err)
	}
	t, err := parseSubscriberFile(s.path, data)
	if err != nil {
		return 0, err
	}
	s.tab.Store(t)
	return len(t.rows), nil
}

// Lookup implements Store. The file is the one table: the table name is
// not looked at. A column a row does not have is NULL.
func (s *fileStore) Lookup(_ context.Context, q Query) ([]Value, bool, error) {
	row, ok := s.tab.Load().lookup(q.User, q.Domain, q.UseDomain)
	if !ok {
		return nil, false, nil
	}
	vals := make([]Value, len(q.Columns))
	for i, c := range q.Columns {
		v, has := row[c]
		vals[i] = Value{Text: v, Null: !has}
	}
	return vals, true, nil
}
