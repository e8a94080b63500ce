package permissions

import (
	"fmt"
	"strconv"
	"strings"
)

// parseTrustedFile reads the trusted file (trusted_file, a luasbc addition:
// Kamailio reads this table from a database only). One record per line,
// with the columns of the trusted table:
//
//	src_ip proto [from_pattern [ruri_pattern [tag [priority]]]]
//
// Fields are separated by spaces or tabs. A field may be written in double
// quotes, to hold spaces or '#'; inside quotes \" is a quote and \\ a
// backslash, any other backslash is kept (so "^sip:.*@example\.com$" is the
// pattern as written). An unquoted "-" is NULL: no pattern, no tag. A
// missing priority is 0. '#' outside quotes starts a comment.
func parseTrustedFile(name string, data []byte) ([]trustedRow, error) {
	var rows []trustedRow
	for n, line := range lines(data) {
		where := fmt.Sprintf("%s:%d", name, n+1)
		f, err := splitQuoted(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%s: want \"src_ip proto [from_pattern [ruri_pattern [tag [priority]]]]\"", where)
		}
		if len(f) > 6 {
			return nil, fmt.Errorf("%s: %d fields, at most 6 (src_ip proto from_pattern ruri_pattern tag priority)", where, len(f))
		}
		if f[0].null || f[1].null {
			return nil, fmt.Errorf("%s: src_ip and proto cannot be NULL", where)
		}
		r := trustedRow{where: where, src: f[0].text, proto: f[1].text}
		opt := func(i int) *string {
			if i >= len(f) || f[i].null {
				return nil
			}
			s := f[i].text
			return &s
		}
		r.from, r.ruri, r.tag = opt(2), opt(3), opt(4)
		if len(f) > 5 {
			if f[5].null || f[5].quoted {
				return nil, fmt.Errorf("%s: priority must be an integer", where)
			}
			if r.priority, err = strconv.ParseInt(f[5].text, 10, 64); err != nil {
				return nil, fmt.Errorf("%s: priority %q: not an integer", where, f[5].text)
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// field is one field of a trusted file line.
type field struct {
	text   string
	quoted bool
	null   bool // an unquoted "-"
}

// splitQuoted splits a line into fields (see parseTrustedFile).
func splitQuoted(line string) ([]field, error) {
	var out []field
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			return out, nil
		}
		if line[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(line) {
					return nil, fmt.Errorf("column %d: unterminated quoted field", i+1)
				}
				c := line[j]
				if c == '"' {
					break
				}
				if c == '\\' && j+1 < len(line) && (line[j+1] == '"' || line[j+1] == '\\') {
					b.WriteByte(line[j+1])
					j += 2
					continue
				}
				b.WriteByte(c)
				j++
			}
			j++
			if j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '#' {
				return nil, fmt.Errorf("column %d: text right after a closing quote", j+1)
			}
			out = append(out, field{text: b.String(), quoted: true})
			i = j
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '#' {
			if line[j] == '"' {
				return nil, fmt.Errorf("column %d: quote inside an unquoted field", j+1)
			}
			j++
		}
		tok := line[i:j]
		out = append(out, field{text: tok, null: tok == "-"})
		i = j
	}
}
