package textops

import (
	"strings"
	"testing"
)

func TestParseSubst(t *testing.T) {
	cases := []struct {
		expr, in, want string
		err            bool
	}{
		{"/a/b/", "aaa", "baa", false},
		{"/a/b/g", "aaa", "bbb", false},
		{"/A/b/g", "aaa", "aaa", false},
		{"/A/b/gi", "aaa", "bbb", false},
		{`/(\w+)@(\w+)/\2@\1/`, "x alice@home y", "x home@alice y", false},
		{`#a/b#\##`, "a/b", "#", false},
		{`/a\/b/c/`, "a/b", "c", false},
		{`/x/\\\n\r\t\$/`, "x", "\\\n\r\t$", false},
		{`/^b/X/g`, "a\nb\nb", "a\nX\nX", false},
		{`/^b/X/gs`, "a\nb", "a\nb", false},
		{`/a.b/X/s`, "a\nb", "X", false},
		{`/a.b/X/`, "a\nb", "a\nb", false},
		{`/(a)/\0\1\0/`, "a", "aaa", false},
		{`/(a)|(b)/[\2]/g`, "ab", "[][b]", false},
		{"/x*/-/g", "abc", "-a-b-c-", false},
		{"", "", "", true},
		{"/a", "", "", true},
		{"/a/b", "", "", true},
		{"/a/b/q", "", "", true},
		{`/(a/b/`, "", "", true},
		{`/a/\1/`, "", "", true},
		{`/a/\q/`, "", "", true},
		{`\a\b\`, "", "", true},
	}
	for _, c := range cases {
		x, err := parseSubst(c.expr)
		if c.err {
			if err == nil {
				t.Errorf("%q: want an error", c.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		got, err := applyText(c.in, 0, x.edits(c.in, nil))
		if err != nil || got != c.want {
			t.Errorf("%q on %q: got %q (%v), want %q", c.expr, c.in, got, err, c.want)
		}
	}
}

func TestSubstPVPartsStayLiteralWithoutContext(t *testing.T) {
	x, err := parseSubst(`/a/$rm\$x/`)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.repl) != 3 || !x.repl[0].pv || x.repl[1].pv || x.repl[1].lit != "$" || x.repl[2].lit != "x" {
		t.Fatalf("parts %+v", x.repl)
	}
}

func TestSplitMultipart(t *testing.T) {
	b := "preamble\r\n--b\r\nContent-Type: a/x\r\n\r\nX\r\n--b\r\n\r\nY\r\n--b--\r\nepilogue"
	ps := splitMultipart("b", b)
	if len(ps) != 2 || ps[0].ctype != "a/x" || ps[0].content != "X" || ps[1].ctype != "text/plain" || ps[1].content != "Y" {
		t.Fatalf("parts %+v", ps)
	}
	if b[ps[0].start:ps[0].end] != "--b\r\nContent-Type: a/x\r\n\r\nX" {
		t.Fatalf("raw %q", b[ps[0].start:ps[0].end])
	}
}

// FuzzSubstExpr checks that any expression either fails to parse or yields
// ordered, in-range edits that apply without panicking.
func FuzzSubstExpr(f *testing.F) {
	for _, s := range []string{"/a/b/g", `/(x)(y)?/\2\1\u$rm/gi`, `#\##\\#s`, "/^/>/g", "/$/</g"} {
		f.Add(s, "xyz\r\nabc")
	}
	f.Fuzz(func(t *testing.T, expr, in string) {
		x, err := parseSubst(expr)
		if err != nil {
			return
		}
		es := x.edits(in, nil)
		last := 0
		for _, e := range es {
			if e.s < last || e.e < e.s || e.e > len(in) {
				t.Fatalf("bad edit %+v (last %d, len %d)", e, last, len(in))
			}
			last = e.e
		}
		if _, err := applyText(in, 0, es); err != nil && err != errTooLarge {
			t.Fatal(err)
		}
	})
}

func FuzzMultipart(f *testing.F) {
	f.Add("b1", "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b1--\r\n")
	f.Add("x", "--x\n\nA\n--x\nc: t/p\n\nB\n--x--")
	f.Fuzz(func(t *testing.T, boundary, b string) {
		if boundary == "" {
			return
		}
		for _, p := range splitMultipart(boundary, b) {
			if p.start < 0 || p.end < p.start || p.end > len(b) || !strings.Contains(b[p.start:p.end], p.content) {
				t.Fatalf("bad part %+v of %q", p, b)
			}
		}
	})
}

func FuzzAudioHold(f *testing.F) {
	f.Add("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 1 RTP/AVP 0\r\na=sendonly\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		if h := audioHold(sdp); h < 0 || h > 2 {
			t.Fatalf("hold %d", h)
		}
	})
}
