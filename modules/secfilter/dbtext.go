package secfilter

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The file store reads Kamailio's own db_text format (README.db_text §1.2),
// so the secfilter file of a db_text-backed Kamailio can be used as it is:
//
//	id(int,auto) action(int) type(int) data(string)
//	1:0:0:friendly-scanner
//	2:0:3:10.0.0.0/8
//	3:1:0:asterisk pbx
//	4:2:0:555123123
//
// The first line declares the columns as name(type[,attr]); every other line
// is a row whose fields are separated by ':'. In a value, "\:" is a colon,
// "\\" a backslash, "\n" "\r" "\t" "\0" the control characters; an empty
// field is NULL. The columns are found by name (action_col, type_col,
// data_col), so their order and any extra columns do not matter.
// luasbc additions: blank lines and lines starting with '#' are skipped, and
// CRLF line ends are accepted.

// maxDBTextLine bounds a line: rows are short, a huge line is not a table.
const maxDBTextLine = 64 * 1024

// column is one declared db_text column.
type column struct {
	name, typ string
}

// parseDBText reads a db_text table and returns its rules; actionCol,
// typeCol and dataCol name the columns to read. Any malformed line is an
// error naming its line number: a table that is half understood is not
// loaded.
func parseDBText(data []byte, actionCol, typeCol, dataCol string) ([]Rule, error) {
	var (
		cols            []column
		ia, it, id      = -1, -1, -1
		rules           []Rule
		lineNo          int
		fields          = make([]string, 0, 8)
		sawHeader, done bool
	)
	for !done {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, done = data, true
		}
		lineNo++
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > maxDBTextLine {
			return nil, fmt.Errorf("line %d: longer than %d bytes", lineNo, maxDBTextLine)
		}
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		if !sawHeader {
			var err error
			if cols, err = parseDBTextHeader(string(line)); err != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, err)
			}
			for i, c := range cols {
				switch c.name {
				case actionCol:
					ia = i
				case typeCol:
					it = i
				case dataCol:
					id = i
				}
			}
			for _, need := range []struct {
				idx  int
				name string
			}{{ia, actionCol}, {it, typeCol}, {id, dataCol}} {
				if need.idx < 0 {
					return nil, fmt.Errorf("line %d: no column %q in the column definitions", lineNo, need.name)
				}
			}
			sawHeader = true
			continue
		}
		var err error
		if fields, err = splitDBTextRow(string(line), fields[:0]); err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if len(fields) != len(cols) {
			return nil, fmt.Errorf("line %d: %d fields, the table has %d columns", lineNo, len(fields), len(cols))
		}
		a, err := dbtextInt(fields[ia], actionCol)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		t, err := dbtextInt(fields[it], typeCol)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		r := Rule{Action: Action(a), Type: Type(t), Data: fields[id]}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		rules = append(rules, r)
	}
	if !sawHeader {
		return nil, fmt.Errorf("no column definition line (e.g. \"id(int,auto) action(int) type(int) data(string)\")")
	}
	return rules, nil
}

// dbTextTypes are the column types db_text knows.
var dbTextTypes = map[string]bool{"int": true, "double": true, "str": true, "string": true, "datetime": true, "blob": true}

func parseDBTextHeader(line string) ([]column, error) {
	var cols []column
	seen := map[string]bool{}
	for _, def := range strings.Fields(line) {
		open := strings.IndexByte(def, '(')
		if open <= 0 || !strings.HasSuffix(def, ")") {
			return nil, fmt.Errorf("column definition %q: want name(type[,attr])", clip(def))
		}
		name := def[:open]
		spec := strings.Split(def[open+1:len(def)-1], ",")
		typ := spec[0]
		if !dbTextTypes[typ] {
			return nil, fmt.Errorf("column %q: unknown type %q", clip(name), clip(typ))
		}
		for _, attr := range spec[1:] {
			if attr != "auto" && attr != "null" {
				return nil, fmt.Errorf("column %q: unknown attribute %q", clip(name), clip(attr))
			}
		}
		if seen[name] {
			return nil, fmt.Errorf("column %q declared twice", clip(name))
		}
		seen[name] = true
		cols = append(cols, column{name: name, typ: typ})
	}
	return cols, nil
}

// splitDBTextRow splits a row on unescaped ':' and unescapes each field.
func splitDBTextRow(line string, out []string) ([]string, error) {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case ':':
			out = append(out, b.String())
			b.Reset()
		case '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("backslash at the end of the line")
			}
			i++
			switch e := line[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			default: // '\\', ':' and anything else stand for themselves
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String()), nil
}

func dbtextInt(s, col string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("column %s is NULL", col)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("column %s: %q is not an integer", col, clip(s))
	}
	return n, nil
}

// escapeDBText writes a value for a db_text row (used by tests and by the
// round-trip fuzz target).
func escapeDBText(s string) string {
	r := strings.NewReplacer("\\", `\\`, ":", `\:`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\x00", `\0`)
	return r.Replace(s)
}
