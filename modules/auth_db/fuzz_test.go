package authdb

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi"
)

// The fuzz targets cover the operator input this module parses: the
// subscriber file and the load_credentials list. Seeds are in
// testdata/fuzz/<target>.

func FuzzSubscriberFile(f *testing.F) {
	f.Add([]byte(subscribers()))
	f.Add([]byte("a b c d e x=1 y=\"2\"\n# c\n\n\"q\\\"u\" - \"p w\" # t\n"))
	f.Add([]byte("a b c\r\na c d\r\n"))
	f.Add([]byte("a b \"unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := parseSubscriberFile("f", data)
		if err != nil {
			return
		}
		// Every row is found by its own keys, and no value carries a line
		// break or NUL (the format cannot express one).
		for i, row := range tab.rows {
			if row["username"] == "" {
				t.Fatalf("row %d without username", i)
			}
			got, ok := tab.lookup(row["username"], row["domain"], true)
			if !ok || got["password"] != row["password"] {
				t.Fatalf("row %d not found by (username, domain)", i)
			}
			if _, ok := tab.lookup(row["username"], "", false); !ok {
				t.Fatalf("row %d not found by username", i)
			}
			for k, v := range row {
				if strings.ContainsAny(k+v, "\r\n\x00") {
					t.Fatalf("row %d: %q=%q", i, k, v)
				}
			}
		}
	})
}

func FuzzLoadCredentials(f *testing.F) {
	for _, s := range []string{"$avp(rpid)=rpid;email_address", "rpid;", "$avp(i:1)=x", "=", ";;", "$avp(a=b)=c", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseLoadCredentials(s)
		if err != nil {
			return
		}
		if len(cs) > maxCredentials {
			t.Fatalf("%d credentials", len(cs))
		}
		for _, c := range cs {
			if validIdent(c.column) != nil || !strings.HasPrefix(c.pv, "$") {
				t.Fatalf("accepted %+v", c)
			}
		}
	})
}

func TestSubscriberFileErrors(t *testing.T) {
	for name, in := range map[string]string{
		"too few fields":   "alice example.com\n",
		"empty username":   "- example.com pw\n",
		"duplicate":        "a d p\nb d p\na d q\n",
		"unterminated":     "a d \"pw\n",
		"quote in bare":    "a d p\"w\n",
		"quote in pair":    "a d p x=y\"z\"\n",
		"after quote":      "a d \"p\"w\n",
		"sixth positional": "a d p h1 h2 h3\n",
		"pair then field":  "a d p x=1 h1\n",
		"column twice":     "a d p x=1 x=2\n",
		"username pair":    "a d p username=b\n",
		"control char":     "a d p\x01\n",
		"escaped control":  "a d \"p\\\x01\"\n",
	} {
		if _, err := parseSubscriberFile("f", []byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "f:") {
			t.Errorf("%s: error %q does not name the file and line", name, err)
		}
	}
	tab, err := parseSubscriberFile("f", []byte("# only a comment\n\n  a d \"p #w\" - ha1b-value   # trailing\nb - \"-\" x=\"y z\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := tab.lookup("a", "d", true); r["password"] != "p #w" || r["ha1"] != "" || r["ha1b"] != "ha1b-value" {
		t.Errorf("row a: %v", r)
	}
	// A bare "-" is empty, a quoted one is a dash; a pair may quote its value.
	if r, _ := tab.lookup("b", "", true); r["password"] != "-" || r["domain"] != "" || r["x"] != "y z" {
		t.Errorf("row b: %v", r)
	}
}

func TestParseLoadCredentials(t *testing.T) {
	cs, err := parseLoadCredentials(" $avp(i:123)=rpid ; email_address;")
	if err != nil || len(cs) != 2 || cs[0] != (credential{column: "rpid", pv: "$avp(i:123)"}) ||
		cs[1] != (credential{column: "email_address", pv: "$avp(email_address)"}) {
		t.Fatalf("%+v %v", cs, err)
	}
	for _, bad := range []string{";", "$avp(x)=", "=col", "bad col", "x=y", "t.c"} {
		if _, err := parseLoadCredentials(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The API lister instantiates the module without a core: no I/O, no error.
func TestNewWithoutCore(t *testing.T) {
	def := kemi.LookupModule("auth_db")
	for _, p := range []map[string]any{nil, {"subscriber_file": "/nonexistent"}} {
		ps, _, err := kemi.ValidateParams(def, p)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := def.New(&kemi.Env{Params: ps})
		if err != nil || len(inst.Exports()) != 7 {
			t.Fatalf("%v: %v", p, err)
		}
	}
}
