package secfilter

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sampleDBText = `id(int,auto) action(int) type(int) data(string)
1:0:0:friendly-scanner
2:0:3:10.0.0.0/8
# a comment, then a blank line

3:1:0:asterisk pbx
4:2:0:555123123
5:0:4:odd\:user\\name
6:0:2:evil.example` + "\r\n"

func TestParseDBText(t *testing.T) {
	rules, err := parseDBText([]byte(sampleDBText), "action", "type", "data")
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Blacklist, TypeUA, "friendly-scanner"},
		{Blacklist, TypeIP, "10.0.0.0/8"},
		{Whitelist, TypeUA, "asterisk pbx"},
		{Destination, TypeUA, "555123123"},
		{Blacklist, TypeUser, `odd:user\name`},
		{Blacklist, TypeDomain, "evil.example"},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Fatalf("got %+v\nwant %+v", rules, want)
	}
}

func TestParseDBTextColumnsByName(t *testing.T) {
	// Other column names and order (action_col, type_col, data_col), extra column.
	in := "value(str) kind(int) note(str,null) list(int)\nsipvicious:4::0\n"
	rules, err := parseDBText([]byte(in), "list", "kind", "value")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0] != (Rule{Blacklist, TypeUser, "sipvicious"}) {
		t.Fatalf("%+v", rules)
	}
}

func TestParseDBTextErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                             "no column definition line",
		"# only a comment\n":                           "no column definition line",
		"id(int) action(int) type(int)\n":              `no column "data"`,
		"action(int) type(int) data(blah)\n":           "unknown type",
		"action(int) type(int) data(str,x)\n":          "unknown attribute",
		"action(int) type(int) data\n":                 "want name(type",
		"action(int) action(int) data(str)\n":          "declared twice",
		"action(int) type(int) data(str)\n0:0\n":       "line 2: 2 fields",
		"action(int) type(int) data(str)\nx:0:a\n":     "line 2: column action",
		"action(int) type(int) data(str)\n:0:a\n":      "NULL",
		"action(int) type(int) data(str)\n0:0:\n":      "line 2: empty data",
		"action(int) type(int) data(str)\n7:0:a\n":     "unknown action",
		"action(int) type(int) data(str)\n0:3:1.2.x\n": "not an IP address",
		"action(int) type(int) data(str)\n0:0:a\\\n":   "backslash at the end",
		"action(int) type(int) data(str)\n0:0:a\\nb\n": "control character",
	} {
		_, err := parseDBText([]byte(in), "action", "type", "data")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	src, err := newSource("text://"+dir, columns{"secfilter", "action", "type", "data"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Load(t.Context()); err == nil || !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secfilter"), []byte(sampleDBText), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, err := src.Load(t.Context())
	if err != nil || len(rules) != 6 {
		t.Fatalf("%d rules, %v", len(rules), err)
	}
	// Relative directories are resolved (by the config directory in the module).
	src, _ = newSource("text://db", columns{"secfilter", "action", "type", "data"}, func(p string) string { return filepath.Join(dir, "..", filepath.Base(dir), p) })
	if got := src.String(); !strings.HasSuffix(got, filepath.Join(filepath.Base(dir), "db", "secfilter")) {
		t.Fatalf("resolved to %s", got)
	}
	for _, bad := range []string{"mysql://u:p@h/db", "text://", "redis://x"} {
		if _, err := newSource(bad, columns{"secfilter", "action", "type", "data"}, nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := newSource("text:///x", columns{"../etc/passwd", "action", "type", "data"}, nil); err == nil {
		t.Error("table name with a path separator accepted")
	}
}

// FuzzDBText: the parser never panics; what it accepts is valid; and every
// accepted rule survives being written back and read again.
func FuzzDBText(f *testing.F) {
	f.Add([]byte(sampleDBText))
	f.Add([]byte("action(int) type(int) data(str)\n0:0:a\\:b\n1:3:::1\n"))
	f.Add([]byte("id(int,auto) action(int) type(int) data(string)\n1:2:0:+34\\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := parseDBText(data, "action", "type", "data")
		if err != nil {
			return
		}
		if _, err := Compile(rules); err != nil {
			t.Fatalf("accepted an invalid rule: %v", err)
		}
		var b strings.Builder
		b.WriteString("id(int,auto) action(int) type(int) data(string)\n")
		for i, r := range rules {
			b.WriteString(strings.Join([]string{itoa(i + 1), itoa(int(r.Action)), itoa(int(r.Type)), escapeDBText(r.Data)}, ":") + "\n")
		}
		again, err := parseDBText([]byte(b.String()), "action", "type", "data")
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(again, rules) {
			t.Fatalf("round trip: %+v != %+v", again, rules)
		}
	})
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
