package htable

import (
	"testing"
)

// FuzzRedisValue: whatever a Redis key holds decodes without panicking,
// and every value this module writes decodes to itself.
func FuzzRedisValue(f *testing.F) {
	for _, s := range []string{"i42", "i-7", "sabc", "s", "", "i", "ix", "i99999999999999999999", "plain", "\x00"} {
		f.Add(s, int64(3))
	}
	f.Fuzz(func(t *testing.T, raw string, n int64) {
		_ = decode(raw)
		if v := decode(encode(Str(raw))); !v.IsStr || v.S != raw {
			t.Fatalf("string %q came back as %+v", raw, v)
		}
		if v := decode(encode(Int(n))); v.IsStr || v.I != n {
			t.Fatalf("integer %d came back as %+v", n, v)
		}
	})
}

// FuzzCountExpr: the $shtcn/$shtcv expressions and the match operators
// (script input, possibly built from message data) never panic.
func FuzzCountExpr(f *testing.F) {
	for _, s := range []string{"**", "~~^a", "%~pre", "~%suf", "==x", "eq5", "eqx", "(", "[", "a|b", "~~", "%~"} {
		f.Add(s, "eq", "name")
	}
	f.Fuzz(func(t *testing.T, expr, op, subject string) {
		it := Item{Name: subject, Val: Str(subject)}
		for _, byValue := range []bool{false, true} {
			if c, err := parseCount(expr, byValue); err == nil {
				c.matches(it, byValue)
			}
		}
		if p, err := matchPredicate(op, expr); err == nil {
			p(subject)
		}
		if p, err := rmPredicate(op, expr); err == nil {
			p(subject)
		}
		if p, err := cnPredicate(op, expr); err == nil {
			p(subject)
		}
	})
}
