package textops

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/luasbc/luasbc/core/regex"
)

// A substitution expression is sed-like: /re/repl/flags, where the first
// character is the separator. In re, \<sep> stands for the separator. In
// repl: \0-\9 are the match and its groups, \u the current R-URI, \n \r \t
// \\ \$ and \<sep> are literals, and $pv references are expanded per match.
// Flags: i (ignore case), g (all matches), s ('.' matches a newline, ^/$
// anchor only at the ends of the text).

type replPart struct {
	lit   string
	group int  // >= 0: insert this group
	uri   bool // insert the current R-URI
	pv    bool // lit holds $pv references to expand
}

type substExpr struct {
	re     *regexp.Regexp
	repl   []replPart
	global bool
}

var substCache = regex.NewCache[*substExpr](maxCached)

func parseSubstCached(expr string) (*substExpr, error) {
	if x, ok := substCache.Get(expr); ok {
		return x, nil
	}
	x, err := parseSubst(expr)
	if err != nil {
		return nil, err
	}
	substCache.Put(expr, x)
	return x, nil
}

func parseSubst(expr string) (*substExpr, error) {
	if len(expr) < 3 {
		return nil, errors.New("substitution expression too short")
	}
	if len(expr) > regex.MaxPattern {
		return nil, errPatternTooLong
	}
	sep := expr[0]
	if sep == '\\' || sep == '\n' || sep == '\r' || sep == 0 {
		return nil, fmt.Errorf("invalid separator %q", sep)
	}
	pattern, i, err := scanRegex(expr, 1, sep)
	if err != nil {
		return nil, err
	}
	repl, maxGroup, i, err := scanRepl(expr, i, sep)
	if err != nil {
		return nil, err
	}
	flags := "(?m)"
	x := &substExpr{repl: repl}
	for _, f := range expr[i:] {
		switch f {
		case 'i':
			flags += "(?i)"
		case 'g':
			x.global = true
		case 's':
			flags += "(?s)"
		default:
			return nil, fmt.Errorf("unknown substitution flag %q", f)
		}
	}
	if strings.Contains(flags, "(?s)") {
		flags = strings.Replace(flags, "(?m)", "", 1)
	}
	re, err := compile(flags, pattern)
	if err != nil {
		return nil, err
	}
	if maxGroup > re.NumSubexp() {
		return nil, fmt.Errorf("replacement uses \\%d but the expression has %d groups", maxGroup, re.NumSubexp())
	}
	x.re = re
	return x, nil
}

// scanRegex reads up to the unescaped separator, turning \<sep> into sep and
// keeping every other escape for the regex compiler.
func scanRegex(expr string, i int, sep byte) (string, int, error) {
	var b strings.Builder
	for ; i < len(expr); i++ {
		switch ch := expr[i]; {
		case ch == '\\' && i+1 < len(expr):
			i++
			if expr[i] != sep {
				b.WriteByte('\\')
			}
			b.WriteByte(expr[i])
		case ch == sep:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(ch)
		}
	}
	return "", 0, errors.New("unterminated regular expression")
}

func scanRepl(expr string, i int, sep byte) ([]replPart, int, int, error) {
	var parts []replPart
	var lit strings.Builder
	maxGroup := -1
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			parts = append(parts, replPart{lit: s, group: -1, pv: strings.IndexByte(s, '$') >= 0})
			lit.Reset()
		}
	}
	add := func(p replPart) {
		flush()
		parts = append(parts, p)
	}
	for ; i < len(expr); i++ {
		ch := expr[i]
		if ch == sep {
			flush()
			return parts, maxGroup, i + 1, nil
		}
		if ch != '\\' {
			lit.WriteByte(ch)
			continue
		}
		if i+1 >= len(expr) {
			break
		}
		i++
		switch e := expr[i]; {
		case e >= '0' && e <= '9':
			g := int(e - '0')
			maxGroup = max(maxGroup, g)
			add(replPart{group: g})
		case e == 'u':
			add(replPart{group: -1, uri: true})
		case e == 'n':
			lit.WriteByte('\n')
		case e == 'r':
			lit.WriteByte('\r')
		case e == 't':
			lit.WriteByte('\t')
		case e == '$':
			add(replPart{lit: "$", group: -1})
		case e == '\\' || e == sep:
			// Written as its own literal part so a '$' next to it is not
			// taken as the start of a $pv reference.
			add(replPart{lit: string(e), group: -1})
		default:
			return nil, 0, 0, fmt.Errorf("unknown escape \\%c in replacement", e)
		}
	}
	return nil, 0, 0, errors.New("unterminated replacement")
}

// expander renders $pv references and \u; nil leaves them literal (tests, fuzzing).
type expander interface {
	expand(s string) string
	ruri() string
}

// edits returns the replacements of the matches in s (offsets into s).
func (x *substExpr) edits(s string, ex expander) []edit {
	n := 1
	if x.global {
		n = -1
	}
	ms := x.re.FindAllStringSubmatchIndex(s, n)
	if len(ms) == 0 {
		return nil
	}
	out := make([]edit, 0, len(ms))
	for _, m := range ms {
		var b strings.Builder
		for _, p := range x.repl {
			switch {
			case p.group >= 0:
				if a := m[2*p.group]; a >= 0 {
					b.WriteString(s[a:m[2*p.group+1]])
				}
			case p.uri:
				if ex != nil {
					b.WriteString(ex.ruri())
				}
			case p.pv && ex != nil:
				b.WriteString(ex.expand(p.lit))
			default:
				b.WriteString(p.lit)
			}
		}
		out = append(out, edit{s: m[0], e: m[1], repl: b.String()})
	}
	return out
}
