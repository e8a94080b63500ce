package dispatcher

import (
	"fmt"
	"strconv"
	"strings"
)

// row is one destination as a source gives it, before it is checked.
type row struct {
	where    string // "dispatcher.list:3", "table dispatcher, id 7": prefixes every message about it
	setid    int
	uri      string
	flags    int
	priority int
	attrs    string
}

// parseListFile reads Kamailio's dispatcher list format:
//
//	setid destination [flags [priority [attrs]]]
//
// one destination a line, fields separated by spaces or tabs. A line or a
// field starting with '#' begins a comment; a '#' also ends the
// destination URI (as in Kamailio), while inside the attributes it is kept.
// setid is a non-negative decimal number, flags decimal or 0x-hex,
// priority decimal (may be negative). Text after the attributes is ignored
// with a warning.
//
// It never fails as a whole: each line that cannot be read is left out and
// described in bad ("name:line: why"), so one typo does not take down the
// other destinations. warns are lines that loaded with something ignored.
func parseListFile(name string, data []byte) (rows []row, bad, warns []string) {
	text := string(data)
	for n := 1; len(text) > 0; n++ {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		where := name + ":" + strconv.Itoa(n)
		r, warn, err := parseListLine(line)
		if err != nil {
			bad = append(bad, where+": "+err.Error())
			continue
		}
		if warn != "" {
			warns = append(warns, where+": "+warn)
		}
		if r == nil {
			continue
		}
		r.where = where
		rows = append(rows, *r)
	}
	return rows, bad, warns
}

// parseListLine reads one line; nil, "", nil for blank and comment lines.
func parseListLine(line string) (*row, string, error) {
	f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\v' || r == '\f' })
	// Comments: a field starting with '#' ends the line.
	for i, x := range f {
		if strings.HasPrefix(x, "#") {
			f = f[:i]
			break
		}
	}
	if len(f) == 0 {
		return nil, "", nil
	}
	if len(f) < 2 {
		return nil, "", fmt.Errorf("want \"setid destination [flags [priority [attrs]]]\"")
	}
	r := &row{}
	id, err := strconv.ParseUint(f[0], 10, 31)
	if err != nil {
		return nil, "", fmt.Errorf("set id %q is not a non-negative number", f[0])
	}
	r.setid = int(id)
	uri := f[1]
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		// Kamailio ends the URI at '#': the rest of the line is a comment.
		uri, f = uri[:i], f[:2]
	}
	if uri == "" {
		return nil, "", fmt.Errorf("empty destination")
	}
	r.uri = uri
	if len(f) > 2 {
		if r.flags, err = parseFlags(f[2]); err != nil {
			return nil, "", err
		}
	}
	if len(f) > 3 {
		p, err := strconv.ParseInt(f[3], 10, 32)
		if err != nil {
			return nil, "", fmt.Errorf("priority %q is not a number", f[3])
		}
		r.priority = int(p)
	}
	if len(f) > 4 {
		r.attrs = f[4]
	}
	warn := ""
	if len(f) > 5 {
		warn = fmt.Sprintf("text after the attributes ignored: %q", strings.Join(f[5:], " "))
	}
	return r, warn, nil
}

// parseFlags reads a flags field: decimal or 0x-prefixed hex, 0..65535.
func parseFlags(s string) (int, error) {
	base, digits := 10, s
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		base, digits = 16, s[2:]
	}
	v, err := strconv.ParseUint(digits, base, 16)
	if err != nil {
		return 0, fmt.Errorf("flags %q are not a decimal or 0x-hex number", s)
	}
	return int(v), nil
}
