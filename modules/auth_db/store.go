package authdb

import (
	"context"
	"fmt"
	"strings"
)

// Query is one subscriber lookup: the row of table whose user column is
// User (and domain column Domain when UseDomain), and the values of
// Columns in that order.
type Query struct {
	Table     string
	User      string
	Domain    string
	UseDomain bool
	Columns   []string
}

// Value is one column value of a subscriber row.
type Value struct {
	Text  string
	Int   int64
	IsInt bool // an integer column: AVPs get a number
	Null  bool
}

// Store is where subscribers live. Lookup returns found false when no row
// matches; with several (no use_domain and one user in two domains) it
// returns one of them, as Kamailio does.
type Store interface {
	Lookup(ctx context.Context, q Query) (vals []Value, found bool, err error)
}

// validIdent accepts the table and column names a query may name: letters,
// digits and '_', optionally schema-qualified with one '.'. Table names come
// from the script (a function argument) and are quoted besides.
func validIdent(s string) error {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return fmt.Errorf("invalid name %q", s)
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 {
			return fmt.Errorf("invalid name %q", s)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("invalid name %q", s)
			}
		}
	}
	return nil
}
