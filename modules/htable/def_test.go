package htable

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDefKamailioExamples(t *testing.T) {
	cases := []struct {
		in   string
		want Def
	}{
		{"ipban=>size=8;autoexpire=300;", Def{Name: "ipban", Size: 8, AutoExpire: 300, UpdateExpire: true, ColDelim: ',', ColNull: "*"}},
		{"a=>size=4;autoexpire=7200;dbtable=htable_a;", Def{Name: "a", Size: 4, AutoExpire: 7200, UpdateExpire: true,
			DBTable: "htable_a", ColDelim: ',', ColNull: "*"}},
		{"b=>size=5;", Def{Name: "b", Size: 5, UpdateExpire: true, ColDelim: ',', ColNull: "*"}},
		{"c=>size=4;autoexpire=7200;initval=1;dmqreplicate=1", Def{Name: "c", Size: 4, AutoExpire: 7200, UpdateExpire: true,
			HasInitVal: true, InitVal: 1, DMQReplicate: true, ColDelim: ',', ColNull: "*"}},
		{" t => size = 2 ; initval=-5; updateexpire=0 ; dbtable=s.tbl; cols='k, v1,v2'; coldelim=|; colnull=; dbmode=0 ;",
			Def{Name: "t", Size: 2, UpdateExpire: false, HasInitVal: true, InitVal: -5, DBTable: "s.tbl",
				Cols: []string{"k", "v1", "v2"}, ColDelim: '|', ColNull: ""}},
		{`x=>coldelim=";";colnull="-";max_items=10;redis=1`, Def{Name: "x", Size: 4, UpdateExpire: true, ColDelim: ';', ColNull: "-",
			MaxItems: 10, Redis: true}},
		{"r=>dbtable=h;reloadat=60;dbmode=1", Def{Name: "r", Size: 4, UpdateExpire: true, DBTable: "h", ReloadAt: 60, DBMode: 1,
			ColDelim: ',', ColNull: "*"}},
	}
	for _, c := range cases {
		d, err := ParseDef(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(*d, c.want) {
			t.Errorf("%q:\n got  %+v\n want %+v", c.in, *d, c.want)
		}
	}
}

func TestParseDefErrorsNameTableAndAttribute(t *testing.T) {
	cases := []struct{ in, table, attr, text string }{
		{"ipban", "", "", `want "name=>`},
		{"=>size=4", "", "", "table name is empty"},
		{"a b=>size=4", "", "", "only letters"},
		{"t=>", "t", "", "no attributes"},
		{"t=>size=4;sise=5", "t", "sise", `did you mean "size"`},
		{"t=>Size=4", "t", "Size", "unknown"},
		{"t=>size=abc", "t", "size", "non-negative integer"},
		{"t=>size=-1", "t", "size", "non-negative integer"},
		{"t=>size=32", "t", "size", "more than 31"},
		{"t=>size=4;size=5", "t", "size", "given twice"},
		{"t=>autoexpire=1.5", "t", "autoexpire", "integer"},
		{"t=>autoexpire=99999999999", "t", "autoexpire", "more than"},
		{"t=>updateexpire=2", "t", "updateexpire", "0 or 1"},
		{"t=>initval=x", "t", "initval", "integer"},
		{"t=>dbtable=a;b", "t", "b", "no value"},
		{"t=>dbtable=a-b", "t", "dbtable", "table name"},
		{"t=>dbtable=h;cols='k'", "t", "cols", "at least two"},
		{"t=>dbtable=h;cols='k,v;x'", "t", "cols", "bad column"},
		{"t=>cols='k,v'", "t", "cols", "needs dbtable"},
		{"t=>coldelim=ab", "t", "coldelim", "exactly one"},
		{"t=>colnull=ab", "t", "colnull", "one printable"},
		{"t=>size=4;;autoexpire=3", "t", "", "two ';'"},
		{"t=>size='4", "t", "size", "unterminated"},
		{"t=>size=4 5", "t", "size", "non-negative integer"},
		{"t=>dbmode=1", "t", "dbmode", "dbtable"},
		{"t=>reloadat=5", "t", "reloadat", "dbtable"},
		{"t=>redis=1;dbtable=h", "t", "redis", "cannot also"},
		{"t=>max_items=0", "t", "max_items", "at least 1"},
		{"t=>size", "t", "size", "no value"},
		{"t=>=4", "t", "", "name missing"},
	}
	for _, c := range cases {
		_, err := ParseDef(c.in)
		var de *DefError
		if !errors.As(err, &de) {
			t.Errorf("%q: want a DefError, got %v", c.in, err)
			continue
		}
		if de.Table != c.table || de.Attr != c.attr || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%q: got table %q attr %q: %v; want table %q attr %q containing %q", c.in, de.Table, de.Attr, err, c.table, c.attr, c.text)
		}
		if c.table != "" && !strings.Contains(err.Error(), `"`+c.table+`"`) {
			t.Errorf("%q: error does not name the table: %v", c.in, err)
		}
	}
}

func TestParseDefsRejectsDuplicates(t *testing.T) {
	_, err := ParseDefs([]string{"a=>size=4", "b=>size=4", "a=>size=8"})
	if err == nil || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("want a duplicate error naming a, got %v", err)
	}
}

func TestSlotsClampLikeKamailio(t *testing.T) {
	for size, want := range map[int]int{0: 8, 1: 8, 2: 4, 4: 16, 8: 256, 14: 16384, 15: 16384, 31: 16384} {
		d := Def{Size: size}
		if got := d.Slots(); got != want {
			t.Errorf("size %d: %d slots, want %d", size, got, want)
		}
	}
}

func TestDefStringRoundTrips(t *testing.T) {
	for _, in := range []string{"ipban=>size=8;autoexpire=300;", `t=>size=2;initval=-5;updateexpire=0;dbtable=s.tbl;cols='k,v1';coldelim=";";colnull=;dbmode=1;reloadat=9`,
		`x=>coldelim=' ';colnull='"';max_items=7;redis=1;dmqreplicate=1`} {
		d, err := ParseDef(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		d2, err := ParseDef(d.String())
		if err != nil {
			t.Fatalf("%q rendered as %q: %v", in, d.String(), err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Errorf("round trip of %q via %q:\n %+v\n %+v", in, d.String(), d, d2)
		}
	}
}

// FuzzParseDef: the parser never panics, errors are DefErrors, and what it
// accepts renders to a definition that parses to the same thing.
func FuzzParseDef(f *testing.F) {
	for _, s := range []string{"ipban=>size=8;autoexpire=300;", "a=>size=4;autoexpire=7200;dbtable=htable_a;",
		"c=>size=4;autoexpire=7200;initval=1;dmqreplicate=1", `t=>dbtable=h;cols='k,v';coldelim=";";colnull=`,
		"x=>redis=1;max_items=5", "t=>size=4;;", "=>", "a=>b=>c", "t=>cols=\"a,b\"", "t=>size='4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDef(s)
		if err != nil {
			var de *DefError
			if !errors.As(err, &de) {
				t.Fatalf("%q: error of type %T: %v", s, err, err)
			}
			return
		}
		if d.Name == "" || d.Slots() < 4 || d.Slots() > 1<<14 {
			t.Fatalf("%q: accepted a bad definition %+v", s, d)
		}
		d2, err := ParseDef(d.String())
		if err != nil {
			t.Fatalf("%q rendered as %q does not parse: %v", s, d.String(), err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("%q: round trip via %q changed it:\n %+v\n %+v", s, d.String(), d, d2)
		}
	})
}
