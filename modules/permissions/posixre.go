package permissions

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/luasbc/luasbc/core/regex"
)

// Kamailio compiles the patterns of this module with POSIX regcomp: the
// allow/deny rule files as extended expressions, case-insensitive
// (REG_EXTENDED|REG_ICASE), the trusted table's from_pattern and
// ruri_pattern as *basic* expressions, case-sensitive (no REG_EXTENDED). Go's
// RE2 syntax is close to ERE but not to BRE — in a BRE "(" and "+" are plain
// characters and "\(" groups — so patterns are translated rather than handed
// to regexp as they are, and a pattern carried over from a Kamailio database
// matches the same strings here.

// posixToGo rewrites a POSIX pattern (BRE, or ERE with extended) in Go's
// syntax. Constructs RE2 cannot express (back-references, collating
// elements, GNU word anchors) are errors rather than silent mismatches.
func posixToGo(p string, extended bool) (string, error) {
	if len(p) > regex.MaxPattern {
		return "", regex.ErrTooLong
	}
	if !utf8.ValidString(p) {
		return "", errors.New("pattern is not valid UTF-8")
	}
	var b strings.Builder
	// atStart is true where an expression begins: there '*' is a plain
	// character and, in a BRE, '^' is an anchor.
	atStart := true
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '[':
			cls, n, err := bracketToGo(p[i:])
			if err != nil {
				return "", fmt.Errorf("at offset %d: %w", i, err)
			}
			b.WriteString(cls)
			i += n
			atStart = false
		case c == '\\':
			if i+1 >= len(p) {
				return "", errors.New("trailing backslash")
			}
			n, start, err := escapeToGo(&b, p[i:], extended, atStart)
			if err != nil {
				return "", fmt.Errorf("at offset %d: %w", i, err)
			}
			i += n
			atStart = start
		case c == '*' && atStart:
			b.WriteString(`\*`)
			i++
			atStart = false
		case c == '^':
			if extended || atStart {
				b.WriteByte('^')
				// "^*" keeps '*' literal, as at the start.
			} else {
				b.WriteString(`\^`)
				atStart = false
			}
			i++
		case c == '$':
			if extended || breAnchorEnd(p[i+1:]) {
				b.WriteByte('$')
			} else {
				b.WriteString(`\$`)
			}
			i++
			atStart = false
		case strings.IndexByte("(){}|+?", c) >= 0:
			if !extended {
				// Plain characters in a BRE.
				b.WriteByte('\\')
				b.WriteByte(c)
				atStart = false
			} else {
				b.WriteByte(c)
				atStart = c == '(' || c == '|'
			}
			i++
		default:
			r, n := utf8.DecodeRuneInString(p[i:])
			b.WriteRune(r)
			i += n
			atStart = false
		}
	}
	return b.String(), nil
}

// breAnchorEnd reports whether a '$' followed by rest ends a BRE (or a
// group or alternative of it), where it is an anchor; elsewhere it is a
// plain character.
func breAnchorEnd(rest string) bool {
	return rest == "" || strings.HasPrefix(rest, `\)`) || strings.HasPrefix(rest, `\|`)
}

// escapeToGo translates the escape sequence at the start of s ("\x"),
// returning the bytes consumed and whether an expression starts after it.
func escapeToGo(b *strings.Builder, s string, extended, atStart bool) (int, bool, error) {
	d := s[1]
	if !extended {
		switch d {
		case '(', '|':
			b.WriteByte(d)
			return 2, true, nil
		case ')':
			b.WriteByte(')')
			return 2, false, nil
		case '{':
			end := strings.Index(s, `\}`)
			if end < 0 {
				return 0, false, errors.New(`unterminated \{ interval`)
			}
			iv := s[2:end]
			if !validInterval(iv) {
				return 0, false, fmt.Errorf(`invalid interval \{%s\}`, iv)
			}
			if atStart {
				return 0, false, errors.New("interval without a preceding expression")
			}
			b.WriteString("{" + iv + "}")
			return end + 2, false, nil
		case '+', '?':
			// GNU extensions: operators in a BRE, plain at the start.
			if atStart {
				b.WriteByte('\\')
			}
			b.WriteByte(d)
			return 2, false, nil
		}
	}
	switch {
	case d >= '1' && d <= '9':
		return 0, false, errors.New("back-references are not supported")
	case d == '<' || d == '>' || d == '`' || d == '\'':
		return 0, false, fmt.Errorf(`\%c is not supported`, d)
	case strings.IndexByte("wWsSbB", d) >= 0:
		b.WriteByte('\\')
		b.WriteByte(d)
		return 2, false, nil
	case d < utf8.RuneSelf:
		// Any other escaped character stands for itself.
		b.WriteString(regexp.QuoteMeta(string(d)))
		return 2, false, nil
	}
	r, n := utf8.DecodeRuneInString(s[1:])
	b.WriteString(regexp.QuoteMeta(string(r)))
	return 1 + n, false, nil
}

// validInterval checks "m", "m," or "m,n" (decimal, m <= n, at most 1000
// as RE2 allows).
func validInterval(iv string) bool {
	lo, hi, comma := strings.Cut(iv, ",")
	m, ok := smallUint(lo)
	if !ok {
		return false
	}
	if !comma || hi == "" {
		return true
	}
	n, ok := smallUint(hi)
	return ok && m <= n
}

func smallUint(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 1000
}

// posixClasses are the character class names POSIX defines, all of which
// RE2 understands inside a bracket expression.
var posixClasses = map[string]bool{
	"alnum": true, "alpha": true, "blank": true, "cntrl": true, "digit": true, "graph": true,
	"lower": true, "print": true, "punct": true, "space": true, "upper": true, "xdigit": true,
}

// bracketToGo translates the bracket expression at the start of s. Inside
// brackets POSIX has no escapes (a backslash is itself), a ']' right after
// the opening '[' or '[^' is a member, and "[:name:]" names a class.
func bracketToGo(s string) (string, int, error) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(s) && s[i] == '^' {
		b.WriteByte('^')
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return "", 0, errors.New("unterminated bracket expression")
		}
		c := s[i]
		switch {
		case c == ']' && !first:
			b.WriteByte(']')
			return b.String(), i + 1, nil
		case c == '[' && i+1 < len(s) && s[i+1] == ':':
			end := strings.Index(s[i+2:], ":]")
			if end < 0 {
				return "", 0, errors.New("unterminated character class")
			}
			name := s[i+2 : i+2+end]
			if !posixClasses[name] {
				return "", 0, fmt.Errorf("unknown character class [:%s:]", name)
			}
			b.WriteString("[:" + name + ":]")
			i += end + 4
		case c == '[' && i+1 < len(s) && (s[i+1] == '=' || s[i+1] == '.'):
			return "", 0, fmt.Errorf("[%c...%c] is not supported", s[i+1], s[i+1])
		case c == '\\' || c == '[' || c == ']' || (c == '^' && !first):
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += n
		}
		first = false
	}
}

// compilePOSIX compiles a POSIX pattern for a search anywhere in the text,
// '.' matching any character including a newline (no REG_NEWLINE).
func compilePOSIX(p string, extended, icase bool) (*regexp.Regexp, error) {
	g, err := posixToGo(p, extended)
	if err != nil {
		return nil, err
	}
	flags := "(?s)"
	if icase {
		flags = "(?is)"
	}
	re, err := regexp.Compile(flags + g)
	if err != nil {
		// Go's message names its own package; the pattern is what matters.
		return nil, errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}
