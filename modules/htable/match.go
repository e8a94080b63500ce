package htable

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/regex"
)

// A predicate tests an item name or a string value.
type predicate func(s string) bool

// compileRE compiles a pattern as Kamailio's regcomp(REG_EXTENDED|REG_ICASE|REG_NEWLINE).
func compileRE(pattern string) (predicate, error) {
	re, err := regex.Compile(regex.Search, pattern)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %w", pattern, err)
	}
	return re.MatchString, nil
}

// matchPredicate is the operator of sht_match_name / sht_match_str_value:
// eq, ne, re, sw.
func matchPredicate(op, val string) (predicate, error) {
	switch op {
	case "eq":
		return func(s string) bool { return s == val }, nil
	case "ne":
		return func(s string) bool { return s != val }, nil
	case "sw":
		return func(s string) bool { return strings.HasPrefix(s, val) }, nil
	case "re":
		return compileRE(val)
	}
	return nil, fmt.Errorf("unsupported match operator %q (want eq, ne, re or sw)", op)
}

// rmPredicate is the operator of sht_rm_name / sht_rm_value: re, sw, ew, in.
func rmPredicate(op, val string) (predicate, error) {
	switch op {
	case "re":
		return compileRE(val)
	case "sw":
		return func(s string) bool { return strings.HasPrefix(s, val) }, nil
	case "ew":
		return func(s string) bool { return strings.HasSuffix(s, val) }, nil
	case "in":
		return func(s string) bool { return strings.Contains(s, val) }, nil
	}
	return nil, fmt.Errorf("unsupported match operator %q (want re, sw, ew or in)", op)
}

// counter is a parsed $shtcn / $shtcv expression.
type counter struct {
	all    bool
	intEq  bool // eqN: integer values equal to n ($shtcv only)
	n      int64
	str    predicate
	prefix string // a name prefix a Redis SCAN can use
}

// parseCount parses the $shtcn/$shtcv expression: "~~re" regex, "%~x" starts
// with x, "~%x" ends with x, "==x" equals x, "eqN" integer value N, "**"
// every item; anything else is a regex over the whole text.
func parseCount(expr string, byValue bool) (*counter, error) {
	if strings.HasPrefix(expr, "**") {
		return &counter{all: true}, nil
	}
	if len(expr) > 2 {
		arg := expr[2:]
		switch expr[:2] {
		case "~~":
			p, err := compileRE(arg)
			return &counter{str: p}, err
		case "%~":
			return &counter{str: func(s string) bool { return strings.HasPrefix(s, arg) }, prefix: arg}, nil
		case "~%":
			return &counter{str: func(s string) bool { return strings.HasSuffix(s, arg) }}, nil
		case "==":
			return &counter{str: func(s string) bool { return s == arg }}, nil
		case "eq":
			if !byValue {
				return nil, fmt.Errorf("eq%s compares integer values: use it with $shtcv", arg)
			}
			n, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("eq wants an integer, got %q", arg)
			}
			return &counter{intEq: true, n: n}, nil
		}
	}
	p, err := compileRE(expr)
	return &counter{str: p}, err
}

// matches applies the counter to an item, by name or by value. String
// operators skip integer values, as in Kamailio.
func (c *counter) matches(it Item, byValue bool) bool {
	switch {
	case c.all:
		return true
	case c.intEq:
		return !it.Val.IsStr && it.Val.I == c.n
	case !byValue:
		return c.str(it.Name)
	}
	return it.Val.IsStr && c.str(it.Val.S)
}

// cnPredicate is the operator of sht_cn(table, op, value), counting by name:
// the match operators (eq, ne, re, sw) plus ew and in, or a $shtcn prefix
// ("~~", "%~", "~%", "==", "**") with value appended.
func cnPredicate(op, val string) (predicate, error) {
	switch op {
	case "eq", "ne", "re", "sw":
		return matchPredicate(op, val)
	case "ew", "in":
		return rmPredicate(op, val)
	case "~~", "%~", "~%", "==", "**":
		c, err := parseCount(op+val, false)
		if err != nil {
			return nil, err
		}
		return func(s string) bool { return c.matches(Item{Name: s}, false) }, nil
	}
	return nil, fmt.Errorf("unsupported count operator %q", op)
}
