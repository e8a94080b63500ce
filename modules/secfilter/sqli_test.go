package secfilter

import (
	"strings"
	"testing"
)

// sqliPositives are injection attempts; the comment says which rule
// should catch them.
var sqliPositives = []string{
	`' OR 1=1 --`,                  // Kamailio: quote
	`admin'--`,                     // Kamailio: quote
	`"; DROP TABLE subscriber; --`, // Kamailio: double quote
	`1--`,                          // Kamailio: comment
	`%27%20OR%201=1`,               // Kamailio: encoded quote
	`abc%22`,                       // Kamailio: encoded double quote
	"%60id%60",                     // Kamailio: encoded backtick
	`O'Brien`,                      // Kamailio flags any apostrophe (documented false positive)
	`1 UNION SELECT username, password FROM subscriber`,
	`1 union all select null`,
	`1%20UNION%20SELECT%201`,
	`1+UNION+SELECT+1`,
	`1/**/UNION/**/SELECT/**/1`,
	`%2527 or 1=1`, // double-encoded quote
	`%252F%252A`,   // double-encoded comment
	`1 OR 1=1`,
	`x AND 2>1`,
	`1 or a=a`,
	`1 || 1=1`,
	`1; DROP TABLE location`,
	`1;delete from subscriber`,
	`1 AND SLEEP(5)`,
	`1 and benchmark(1000000,md5(1))`,
	`1;WAITFOR DELAY 0:0:5`,
	`select * from subscriber`,
	`SELECT ha1 FROM subscriber WHERE 1`,
	`select count(*) from location`,
	`insert into subscriber values (1)`,
	`update subscriber set ha1=1`,
	`1 into outfile /tmp/x`,
	`information_schema`,
	"`id`",
	`exec xp_cmdshell`,
}

// sqliNegatives are ordinary values seen in SIP headers.
var sqliNegatives = []string{
	"",
	"Alice Smith",
	"alice",
	"+34600111222",
	"0034600111222",
	"alice.smith@example.com",
	"sip.example.com",
	"[2001:db8::1]",
	"Linphone/5.2.0 (belle-sip/5.2.0)",
	"Zoiper rv2.10.19.3-mod",
	"friendly-scanner",
	"Asterisk PBX 18.2.0",
	"FreeSWITCH-mod_sofia/1.10.9-release~64bit",
	"Union Station",
	"Select",
	"Selection Committee",
	"Drop Zone",
	"Oregon Andrews",
	"Tom & Jerry",
	"Tom or Jerry",
	"*#21#",
	"100%",
	"50% off",
	"a;b=c",
	"user;phone-context=+34",
	"or 1",
	"Café Müller",
	"x = y or z",
	"Dr. No",
	"Mozilla/5.0 (X11; Linux x86_64)",
	"JsSIP 3.10.0",
	"PolycomVVX-VVX_400-UA/6.4.3.5018",
	"Grandstream GXP2170 1.0.11.6",
	"Yealink SIP-T46S 66.86.0.15",
	"MicroSIP/3.21.3",
	"Bria 5 release 5.9.1 stamp 105364",
	"AVM FRITZ!Box 7590 154.07.29 (Sep 13 2021)",
	"Sangoma SBC; Version 2.3",
	"snom D785/10.1.54.13",
	"Select Comfort",
	"Union Pacific",
	"alice+work",
	"1234;npdi;rn=+15551234567",
	"select.example.com",
	"update.example.com",
	"Tel: +1 (555) 123-4567",
}

func TestSQLiDetector(t *testing.T) {
	for _, v := range sqliPositives {
		if sqliReason(v) == "" {
			t.Errorf("not flagged: %q", v)
		}
	}
	for _, v := range sqliNegatives {
		if r := sqliReason(v); r != "" {
			t.Errorf("flagged %q (%s)", v, r)
		}
	}
}

// TestSQLiKamailioSuperset: every value Kamailio's rule flags is flagged.
func TestSQLiKamailioSuperset(t *testing.T) {
	for _, v := range []string{`'`, `"`, `--`, `%27`, `%22`, `%60`, `a'b`, `x--y`, `Rock 'n' Roll`} {
		if kamailioRule(v) == "" || sqliReason(v) == "" {
			t.Errorf("%q: kamailio=%q luasbc=%q", v, kamailioRule(v), sqliReason(v))
		}
	}
}

func TestPercentDecode(t *testing.T) {
	for in, want := range map[string]string{
		"%41%62c": "Abc", "%": "%", "%4": "%4", "%zz": "%zz", "a%2": "a%2", "%2527": "%27", "100%": "100%",
	} {
		if got := percentDecode(in); got != want {
			t.Errorf("percentDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSQLi checks the detector's invariants on arbitrary input: it never
// panics, it flags whatever Kamailio's rule flags, and a value made of
// letters and digits alone (one word, nothing to build a statement with)
// is never flagged.
func FuzzSQLi(f *testing.F) {
	for _, v := range append(append([]string{}, sqliPositives...), sqliNegatives...) {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := sqliReason(v)
		if kamailioRule(v) != "" && r == "" {
			t.Fatalf("%q: Kamailio's rule fires but the detector says clean", v)
		}
		alnum := v != ""
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				alnum = false
				break
			}
		}
		if alnum && r != "" {
			t.Fatalf("single word %q flagged (%s)", v, r)
		}
		if sqliReason(v) != r {
			t.Fatalf("%q: not deterministic", v)
		}
		if strings.Contains(strings.ToLower(v), " union select ") && r == "" {
			t.Fatalf("%q: union select missed", v)
		}
	})
}

func BenchmarkSQLiClean(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sqliReason("Linphone/5.2.0 (belle-sip/5.2.0)")
	}
}
