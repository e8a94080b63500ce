package permissions

import (
	"fmt"
	"strconv"
	"strings"
)

// parseAddressFile reads Kamailio's address file format (address_file):
// one record per line,
//
//	group address [mask [port [tag]]]
//
// separated by spaces or tabs; '#' starts a comment that runs to the end of
// the line, also after a record. The group, mask and port are decimal
// integers, the tag a single token. A missing mask means one address, a
// missing port any port, a missing tag no tag. name prefixes error positions.
//
// Kamailio skips what it cannot read in a line; here any malformed line is
// an error naming its line, so a typo never silently drops an entry.
func parseAddressFile(name string, data []byte) ([]addrRow, error) {
	var rows []addrRow
	for n, line := range lines(data) {
		where := fmt.Sprintf("%s:%d", name, n+1)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%s: want \"group address [mask [port [tag]]]\"", where)
		}
		if len(f) > 5 {
			return nil, fmt.Errorf("%s: %d fields, at most 5 (group address mask port tag)", where, len(f))
		}
		r := addrRow{where: where, addr: f[1]}
		var err error
		if r.grp, err = fileInt(f[0], "group"); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if len(f) > 2 {
			if r.mask, err = fileInt(f[2], "mask"); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		if len(f) > 3 {
			if r.port, err = fileInt(f[3], "port"); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		if len(f) > 4 {
			tag := f[4]
			r.tag = &tag
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// fileInt reads an unsigned decimal field.
func fileInt(s, what string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%s %q: not a decimal number", what, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: out of range", what, s)
	}
	return n, nil
}

// lines splits a file into lines without their CR LF or LF endings.
func lines(data []byte) []string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	out := strings.Split(s, "\n")
	if len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
