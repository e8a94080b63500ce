package authdb

import (
	"errors"
	"fmt"
	"strings"
)

// credential is one load_credentials item: a column and the variable it is
// loaded into.
type credential struct {
	column string
	pv     string // "$avp(name)" or any writable variable
}

// maxCredentials bounds the load_credentials list.
const maxCredentials = 32

// parseLoadCredentials reads Kamailio's syntax:
//
//	credential (';' credential)*
//	credential = pv '=' column | column
//
// A bare column goes to $avp(column). The '=' is searched from the right,
// since a variable name may contain one.
func parseLoadCredentials(s string) ([]credential, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []credential
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			if len(out) > 0 {
				continue // a trailing ';'
			}
			return nil, errors.New("empty item")
		}
		var c credential
		if i := strings.LastIndexByte(item, '='); i >= 0 {
			c.pv, c.column = strings.TrimSpace(item[:i]), strings.TrimSpace(item[i+1:])
			if c.pv == "" || c.column == "" || !strings.HasPrefix(c.pv, "$") {
				return nil, fmt.Errorf("%q: want $avp(name)=column or column", item)
			}
		} else {
			c.column, c.pv = item, "$avp("+item+")"
		}
		if err := validIdent(c.column); err != nil || strings.Contains(c.column, ".") {
			return nil, fmt.Errorf("%q: invalid column name %q", item, c.column)
		}
		if len(out) == maxCredentials {
			return nil, fmt.Errorf("more than %d credentials", maxCredentials)
		}
		out = append(out, c)
	}
	return out, nil
}
