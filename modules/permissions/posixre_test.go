package permissions

import "testing"

func TestPOSIXBasic(t *testing.T) {
	cases := []struct {
		pat        string
		match, not []string
	}{
		// Plain BRE patterns as found in trusted tables.
		{`^sip:.*@example\.com$`, []string{"sip:alice@example.com"}, []string{"sip:alice@exampleXcom", "sip:alice@example.com.evil", "sip:a@EXAMPLE.COM"}},
		// In a BRE '+', '?', '(', ')', '|', '{' are plain characters.
		{`^sip:a+b$`, []string{"sip:a+b"}, []string{"sip:aab", "sip:ab"}},
		{`(x|y)`, []string{"a(x|y)b"}, []string{"x", "y"}},
		{`a{2}`, []string{"a{2}"}, []string{"aa"}},
		// Groups, alternation and intervals are escaped.
		{`^\(ab\)*c$`, []string{"c", "ababc"}, []string{"abac"}},
		{`^a\{2,3\}$`, []string{"aa", "aaa"}, []string{"a", "aaaa"}},
		{`^alice\|^bob`, []string{"alice@x", "bob@x"}, []string{"carol"}},
		// GNU \+ and \? operators.
		{`^ab\+$`, []string{"ab", "abbb"}, []string{"a"}},
		// '*' at the start and '^'/'$' in the middle are plain.
		{`*a`, []string{"x*a"}, []string{"a"}},
		{`a^b$c`, []string{"a^b$c"}, []string{"abc"}},
		{`^*x`, []string{"*x"}, []string{"x"}},
		// Brackets: no escapes inside, ']' first is a member, classes.
		{`[\]`, []string{`a\b`}, []string{"ab"}},
		{`^[]a]$`, []string{"]", "a"}, []string{"b"}},
		{`^[^]a]$`, []string{"b"}, []string{"]", "a"}},
		{`^[[:digit:]][[:alpha:]]$`, []string{"1a"}, []string{"a1"}},
		{`^[a^]$`, []string{"^", "a"}, []string{"b"}},
		// Escaped punctuation is literal.
		{`a\.b`, []string{"a.b"}, []string{"axb"}},
		// '.' matches a newline (no REG_NEWLINE).
		{`a.b`, []string{"a\nb"}, nil},
	}
	for _, tc := range cases {
		re, err := compilePOSIX(tc.pat, false, false)
		if err != nil {
			t.Errorf("%q: %v", tc.pat, err)
			continue
		}
		for _, s := range tc.match {
			if !re.MatchString(s) {
				t.Errorf("BRE %q should match %q (go: %s)", tc.pat, s, re)
			}
		}
		for _, s := range tc.not {
			if re.MatchString(s) {
				t.Errorf("BRE %q should not match %q (go: %s)", tc.pat, s, re)
			}
		}
	}
}

func TestPOSIXExtended(t *testing.T) {
	cases := []struct {
		pat        string
		match, not []string
	}{
		{`^sip:(alice|bob)@example\.com$`, []string{"sip:alice@example.com", "SIP:BOB@EXAMPLE.COM"}, []string{"sip:carol@example.com"}},
		{`^sip:361[0-9]*@abc\.com$`, []string{"sip:3612@abc.com"}, []string{"sip:3712@abc.com"}},
		{`a+b?`, []string{"xaay"}, []string{"xy"}},
		{`\(x\)`, []string{"(x)"}, []string{"x"}},
		{`[\.]`, []string{`\`, "."}, []string{"a"}},
	}
	for _, tc := range cases {
		re, err := compilePOSIX(tc.pat, true, true)
		if err != nil {
			t.Errorf("%q: %v", tc.pat, err)
			continue
		}
		for _, s := range tc.match {
			if !re.MatchString(s) {
				t.Errorf("ERE %q should match %q (go: %s)", tc.pat, s, re)
			}
		}
		for _, s := range tc.not {
			if re.MatchString(s) {
				t.Errorf("ERE %q should not match %q (go: %s)", tc.pat, s, re)
			}
		}
	}
}

func TestPOSIXRejects(t *testing.T) {
	for _, tc := range []struct {
		pat      string
		extended bool
	}{
		{`a\1`, false},       // back-reference
		{`\(a\)\1`, false},   // back-reference
		{`\<word\>`, false},  // GNU word anchors
		{`[[=a=]]`, false},   // equivalence class
		{`[[.a.]]`, false},   // collating element
		{`[[:nope:]]`, true}, // unknown class
		{`[abc`, true},       // unterminated bracket
		{`abc\`, false},      // trailing backslash
		{`a\{2`, false},      // unterminated interval
		{`a\{3,2\}`, false},  // bad interval
		{`\{2\}`, false},     // interval without an operand
		{`(ab`, true},        // unbalanced group
		{`a**+`, true},       // RE2 rejects nested repetition
		{"\xff", true},       // not UTF-8
	} {
		if _, err := compilePOSIX(tc.pat, tc.extended, false); err == nil {
			t.Errorf("%q (extended=%v) compiled, want an error", tc.pat, tc.extended)
		}
	}
}
