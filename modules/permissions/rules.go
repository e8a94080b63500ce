package permissions

import (
	"fmt"
	"regexp"
	"strings"
)

// ruleSet is one parsed allow or deny file (permissions.allow,
// register.deny, ...). A nil *ruleSet is an empty one.
type ruleSet struct {
	path  string
	rules []rule
}

// rule is one line "FROM-LIST [EXCEPT LIST] : URI-LIST [EXCEPT LIST]".
// A nil side list means ALL.
type rule struct {
	line                           int
	left, leftExc, right, rightExc []*regexp.Regexp
}

// matches reports whether any rule of the set matches the pair.
func (rs *ruleSet) matches(left, right string) bool {
	if rs == nil {
		return false
	}
	for i := range rs.rules {
		r := &rs.rules[i]
		if (r.left == nil || anyMatch(r.left, left)) && !anyMatch(r.leftExc, left) &&
			(r.right == nil || anyMatch(r.right, right)) && !anyMatch(r.rightExc, right) {
			return true
		}
	}
	return false
}

func (rs *ruleSet) empty() bool { return rs == nil || len(rs.rules) == 0 }

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// maxRuleLine bounds one line of a rule file.
const maxRuleLine = 8192

// parseRules reads Kamailio's allow/deny file format. Each non-empty line
// is a rule
//
//	FROM-LIST [EXCEPT FROM-LIST] : URI-LIST [EXCEPT URI-LIST]
//
// where a list is the keyword ALL or comma-separated expressions, each a
// POSIX extended regular expression matched case-insensitively anywhere in
// the text. An expression is written in double quotes (and may then hold
// spaces, commas, colons and '#'; there are no escapes) or bare, as one
// token without those characters. '#' outside quotes starts a comment.
//
// Kamailio logs and skips a line it cannot read; here a malformed line or
// a bad expression is an error naming the file and line.
func parseRules(name string, data []byte) (*ruleSet, error) {
	rs := &ruleSet{path: name}
	for n, line := range lines(data) {
		if len(line) > maxRuleLine {
			return nil, fmt.Errorf("%s:%d: line longer than %d characters", name, n+1, maxRuleLine)
		}
		r, ok, err := parseRuleLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
		}
		if ok {
			r.line = n + 1
			rs.rules = append(rs.rules, r)
		}
	}
	return rs, nil
}

// token kinds of a rule line.
const (
	tokExpr  = iota // quoted or bare expression text
	tokComma        // ,
	tokColon        // :
)

type ruleToken struct {
	kind   int
	text   string
	quoted bool
	col    int
}

func tokenizeRule(line string) ([]ruleToken, error) {
	var out []ruleToken
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '#':
			return out, nil
		case c == ',':
			out = append(out, ruleToken{kind: tokComma, col: i + 1})
			i++
		case c == ':':
			out = append(out, ruleToken{kind: tokColon, col: i + 1})
			i++
		case c == '"':
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("column %d: unterminated quoted expression", i+1)
			}
			out = append(out, ruleToken{kind: tokExpr, text: line[i+1 : i+1+end], quoted: true, col: i + 1})
			i += end + 2
		default:
			j := i
			for j < len(line) && strings.IndexByte(" \t,:\"#", line[j]) < 0 {
				j++
			}
			out = append(out, ruleToken{kind: tokExpr, text: line[i:j], col: i + 1})
			i = j
		}
	}
	return out, nil
}

// parseRuleLine parses one line; ok is false for blank and comment lines.
func parseRuleLine(line string) (rule, bool, error) {
	toks, err := tokenizeRule(line)
	if err != nil || len(toks) == 0 {
		return rule{}, false, err
	}
	colon := -1
	for i, t := range toks {
		if t.kind != tokColon {
			continue
		}
		if colon >= 0 {
			return rule{}, false, fmt.Errorf("column %d: a second ':' outside quotes (quote expressions that contain ':')", t.col)
		}
		colon = i
	}
	if colon < 0 {
		return rule{}, false, fmt.Errorf("no ':' between the From and the Request-URI lists")
	}
	var r rule
	if r.left, r.leftExc, err = parseRuleSide(toks[:colon], "left"); err != nil {
		return rule{}, false, err
	}
	if r.right, r.rightExc, err = parseRuleSide(toks[colon+1:], "right"); err != nil {
		return rule{}, false, err
	}
	return r, true, nil
}

// parseRuleSide parses "LIST [EXCEPT LIST]"; a nil list means ALL.
func parseRuleSide(toks []ruleToken, side string) (list, except []*regexp.Regexp, err error) {
	if len(toks) == 0 {
		return nil, nil, fmt.Errorf("%s side of ':' is empty", side)
	}
	exc := -1
	for i, t := range toks {
		if t.kind == tokExpr && !t.quoted && t.text == "EXCEPT" {
			if exc >= 0 {
				return nil, nil, fmt.Errorf("column %d: a second EXCEPT on the %s side", t.col, side)
			}
			exc = i
		}
	}
	main := toks
	if exc >= 0 {
		main = toks[:exc]
		if exc == len(toks)-1 {
			return nil, nil, fmt.Errorf("column %d: EXCEPT without a list after it", toks[exc].col)
		}
		if except, err = parseExprList(toks[exc+1:], false); err != nil {
			return nil, nil, err
		}
	}
	if len(main) == 0 {
		return nil, nil, fmt.Errorf("column %d: EXCEPT without a list before it", toks[exc].col)
	}
	if list, err = parseExprList(main, true); err != nil {
		return nil, nil, err
	}
	return list, except, nil
}

// parseExprList parses "ALL" (when allowAll; result nil) or
// "expr {, expr}".
func parseExprList(toks []ruleToken, allowAll bool) ([]*regexp.Regexp, error) {
	for _, t := range toks {
		if t.kind == tokExpr && !t.quoted && t.text == "ALL" {
			if !allowAll {
				return nil, fmt.Errorf("column %d: ALL cannot follow EXCEPT", t.col)
			}
			if len(toks) != 1 {
				return nil, fmt.Errorf("column %d: ALL cannot be combined with other expressions", t.col)
			}
			return nil, nil
		}
	}
	var out []*regexp.Regexp
	for i, t := range toks {
		wantExpr := i%2 == 0
		switch {
		case wantExpr && t.kind != tokExpr:
			return nil, fmt.Errorf("column %d: expected an expression", t.col)
		case !wantExpr && t.kind != tokComma:
			return nil, fmt.Errorf("column %d: expected ',' between expressions", t.col)
		case !wantExpr:
			continue
		}
		if t.text == "" {
			return nil, fmt.Errorf("column %d: empty expression", t.col)
		}
		re, err := compilePOSIX(t.text, true, true)
		if err != nil {
			return nil, fmt.Errorf("column %d: expression %q: %w", t.col, t.text, err)
		}
		out = append(out, re)
	}
	if len(toks)%2 == 0 {
		return nil, fmt.Errorf("column %d: list ends with ','", toks[len(toks)-1].col)
	}
	return out, nil
}
