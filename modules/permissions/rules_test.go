package permissions

import (
	"strings"
	"testing"
)

func TestRulesMatch(t *testing.T) {
	rs, err := parseRules("p.allow", []byte(`
# comment
ALL : "^sip:361[0-9]*@abc\.com$" EXCEPT "^sip:361[0-9]*3@abc\.com$", "^sip:361[0-9]*4@abc\.com$"
"^sip:3677[0-9]*@abc\.com$" :  "^sip:361[0-9]*@abc\.com$"   # trailing comment
"^sip:boss@" EXCEPT "^sip:boss@evil" : ALL
"^sip:a,b@x" , "^sip:c:d@x" : "#literal"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.rules) != 4 || rs.rules[1].line != 4 {
		t.Fatalf("%d rules, second at line %d", len(rs.rules), rs.rules[1].line)
	}
	cases := []struct {
		from, to string
		want     bool
	}{
		{"sip:anyone@x", "sip:3612@abc.com", true},
		{"sip:anyone@x", "SIP:3612@ABC.COM", true}, // case-insensitive
		{"sip:anyone@x", "sip:3613@abc.com", false},
		{"sip:anyone@x", "sip:3614@abc.com", false},
		{"sip:36771@abc.com", "sip:3614@abc.com", true},
		{"sip:boss@corp", "sip:anything", true},
		{"sip:boss@evil.com", "sip:anything", false},
		{"sip:a,b@x", "x#literal", true},
		{"sip:c:d@x", "#literal", true},
		{"sip:c:d@x", "literal", false},
	}
	for _, tc := range cases {
		if got := rs.matches(tc.from, tc.to); got != tc.want {
			t.Errorf("(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	var none *ruleSet
	if none.matches("a", "b") || !none.empty() {
		t.Error("nil rule set matched")
	}
}

func TestRulesErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`"a" "b"`, "no ':'"},
		{`a : b : c`, "second ':'"},
		{`: a`, "left side of ':' is empty"},
		{`a :`, "right side of ':' is empty"},
		{`a : "unterminated`, "unterminated"},
		{`a, : b`, "ends with ','"},
		{`a,,b : c`, "expected an expression"},
		{`a b : c`, "expected ','"},
		{`ALL, a : b`, "ALL cannot be combined"},
		{`a EXCEPT ALL : b`, "ALL cannot follow EXCEPT"},
		{`a EXCEPT b EXCEPT c : d`, "second EXCEPT"},
		{`EXCEPT a : b`, "EXCEPT without a list before"},
		{`a EXCEPT : b`, "EXCEPT without a list after"},
		{`"" : b`, "empty expression"},
		{`"(" : b`, "expression"},
		{`"a\1" : b`, "back-references"},
		{strings.Repeat("a", maxRuleLine+1) + " : b", "longer than"},
	} {
		_, err := parseRules("r.deny", []byte("# ok\n"+tc.line+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.line, err, tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "r.deny:2: ") {
			t.Errorf("%q: error %q does not name the line", tc.line, err)
		}
	}
}

func TestCheckPairs(t *testing.T) {
	allow, _ := parseRules("a", []byte(`ALL : "^sip:ok"`))
	deny, _ := parseRules("d", []byte(`ALL : ALL`))
	if got := checkPairs(allow, deny, "sip:x", []string{"sip:ok1", "sip:ok2"}); got != 1 {
		t.Errorf("all allowed: %d", got)
	}
	if got := checkPairs(allow, deny, "sip:x", []string{"sip:ok1", "sip:bad"}); got != -1 {
		t.Errorf("one denied: %d", got)
	}
	if got := checkPairs(allow, nil, "sip:x", []string{"sip:bad"}); got != 1 {
		t.Errorf("no deny rule: %d", got)
	}
}

func TestPlainURI(t *testing.T) {
	for in, want := range map[string]string{
		"sip:alice@example.com:5060;transport=tcp": "sip:alice@example.com",
		"sips:bob@[2001:db8::1]:5061":              "sip:bob@[2001:db8::1]",
		"sip:example.com;lr":                       "sip:example.com",
	} {
		if got, err := plainURI(in); err != nil || got != want {
			t.Errorf("plainURI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		`"Alice" <sip:alice@x;user=phone>;tag=1`: "sip:alice@x;user=phone",
		`sip:bob@x;tag=2`:                        "sip:bob@x",
		` <sip:c@x> `:                            "sip:c@x",
	} {
		if got, err := addrSpec(in); err != nil || got != want {
			t.Errorf("addrSpec(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := addrSpec("<sip:x"); err == nil {
		t.Error("unterminated < accepted")
	}
}
