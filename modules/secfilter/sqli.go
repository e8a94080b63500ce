package secfilter

import (
	"regexp"
	"strings"
)

// SQL injection detection.
//
// Kamailio's rule (secf_check_sqli_hdr / secf_check_sqli_all) is a plain
// substring test: a value is suspicious when it contains a single quote, a
// double quote, "--", or the percent-encodings %27, %22 or %60. luasbc keeps
// that rule exactly, so everything Kamailio flags is flagged here too — the
// apostrophe in a display name such as O'Brien included — and adds tests
// for injections that need no quote at all (numeric context: "1 UNION SELECT
// …", "1; DROP TABLE …", "1 OR 1=1"), after undoing percent-encoding,
// comments and '+' for spaces. README.md lists what each rule can wrongly
// flag.

// sqliReason names the rule that fired, for the log ("" = clean).
func sqliReason(v string) string {
	if r := kamailioRule(v); r != "" {
		return r
	}
	if strings.IndexByte(v, '`') >= 0 {
		return "backtick"
	}
	if strings.Contains(v, "/*") {
		return "comment"
	}
	d := v
	for i := 0; i < 2 && strings.IndexByte(d, '%') >= 0; i++ {
		d = percentDecode(d)
		if r := kamailioRule(d); r != "" {
			return "encoded " + r
		}
		if strings.IndexByte(d, '`') >= 0 {
			return "encoded backtick"
		}
		if strings.Contains(d, "/*") {
			return "encoded comment"
		}
	}
	n := normalize(d)
	kw, cmp := triggers(n)
	if kw {
		if m := sqlKeywords.FindString(n); m != "" {
			return "keywords " + strings.Join(strings.Fields(m), " ")
		}
	}
	if cmp && tautology(n) {
		return "tautology"
	}
	return ""
}

// triggerWords are the words without which no keyword pattern can match.
// Most values contain none of them, and a map lookup per word is much
// cheaper than running the patterns.
var triggerWords = map[string]bool{
	"union": true, "select": true, "insert": true, "delete": true, "update": true, "drop": true,
	"truncate": true, "alter": true, "create": true, "exec": true, "execute": true, "sleep": true,
	"benchmark": true, "pg_sleep": true, "load_file": true, "extractvalue": true, "updatexml": true,
	"waitfor": true, "into": true, "information_schema": true, "xp_cmdshell": true,
}

// triggers scans a normalized value once: kw when a keyword pattern could
// match (a trigger word or a ';'), cmp when a tautology could (a
// comparison operator or "like", and "or"/"and"/"xor"/"||"/"&&").
func triggers(n string) (kw, cmp bool) {
	var op, conj bool
	for i := 0; i < len(n); {
		c := n[i]
		if isWordByte(c) {
			j := i + 1
			for j < len(n) && isWordByte(n[j]) {
				j++
			}
			switch w := n[i:j]; w {
			case "or", "and", "xor":
				conj = true
			case "like":
				op = true
			default:
				if len(w) >= 4 && c >= 'a' && c <= 'z' && triggerWords[w] {
					kw = true
				}
			}
			i = j
			continue
		}
		switch c {
		case ';':
			kw = true
		case '=', '<', '>':
			op = true
		case '|', '&':
			if i+1 < len(n) && n[i+1] == c {
				conj = true
			}
		}
		i++
	}
	return kw, op && conj
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c >= 'A' && c <= 'Z'
}

// kamailioRule is Kamailio's test: ' " -- %27 %22 %60 anywhere.
func kamailioRule(v string) string {
	switch {
	case strings.IndexByte(v, '\'') >= 0:
		return "single quote"
	case strings.IndexByte(v, '"') >= 0:
		return "double quote"
	case strings.Contains(v, "--"):
		return "comment"
	case strings.Contains(v, "%27"), strings.Contains(v, "%22"), strings.Contains(v, "%60"):
		return "encoded quote"
	}
	return ""
}

// percentDecode undoes %XX escapes; malformed escapes stay as they are.
func percentDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// normalize lower-cases ASCII, turns every kind of blank (and '+', the
// form-encoded space, and NUL) into one space, so the keyword patterns see
// "union select" however it was spaced.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ', c == '\t', c == '\r', c == '\n', c == '\v', c == '\f', c == '+', c == 0:
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
		space = false
	}
	return b.String()
}

// sqlKeywords are statement shapes that plain names and user agents do not
// take. Word boundaries keep "selection", "Andrew" or "Oregon" clean.
var sqlKeywords = regexp.MustCompile(strings.Join([]string{
	`\bunion[ (]+(?:all[ (]+|distinct[ (]+)?select\b`,
	`\bselect[ (]+(?:\*|[\w.@]+(?: ?, ?[\w.@]+)*|\w+\([^)]*\))[ )]*\bfrom[ (]+\w`,
	`\binsert (?:ignore )?into \w`,
	`\bdelete from \w`,
	`\bupdate \w+ set \w+ ?=`,
	`\b(?:drop|truncate|alter) (?:table|database|schema|view|index|user|procedure|function)\b`,
	`\bcreate (?:table|database|schema|user|procedure|function)\b`,
	`; ?(?:select|insert|update|delete|drop|create|alter|truncate|exec|execute|declare|shutdown|grant|revoke)\b`,
	`\b(?:exec|execute) (?:xp|sp)_\w+`,
	`\b(?:sleep|benchmark|pg_sleep|load_file|extractvalue|updatexml)\s*\(`,
	`\bwaitfor (?:delay|time)\b`,
	`\binto (?:outfile|dumpfile)\b`,
	`\binformation_schema\b`,
	`\bxp_cmdshell\b`,
}, "|"))

// tautologyRe finds "OR x = y" / "AND x > y" / "|| x=y" comparisons.
var tautologyRe = regexp.MustCompile(`(?:\b(?:or|and|xor)|\|\||&&) ?(\w+) ?(?:=|<>|!=|<=>|<=|>=|<|>|\blike\b) ?(\w+)\b`)

// tautology reports a boolean test that injections append to a WHERE
// clause: both sides numbers ("or 1=1", "and 2>1") or the same word
// ("or a=a"). "Tom or Jerry" has no comparison; "or x=y" compares
// different words and passes.
func tautology(n string) bool {
	for _, m := range tautologyRe.FindAllStringSubmatch(n, -1) {
		if m[1] == m[2] || isNumber(m[1]) && isNumber(m[2]) {
			return true
		}
	}
	return false
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
