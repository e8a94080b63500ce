package auth

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/auth/authtest"
)

// The fuzz targets cover what an attacker controls: the credentials parser
// alone (FuzzParseCredentials), the nonce decoder (FuzzNonce), and a whole
// authentication with the value in an Authorization header of a parsed
// REGISTER (FuzzAuthenticate). Seeds are in testdata/fuzz/<target>.

func FuzzParseCredentials(f *testing.F) {
	for _, s := range credentialSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCredentials(v)
		if err != nil {
			if c != nil {
				t.Fatal("credentials returned with an error")
			}
			return
		}
		if c.Username == "" || c.Nonce == "" || c.URI == "" || c.Alg == nil || len(c.Response) != c.Alg.HexLen {
			t.Fatalf("incomplete credentials accepted: %+v", *c)
		}
		if c.QOP != "" && (c.CNonce == "" || len(c.NC) != 8) {
			t.Fatalf("qop without cnonce/nc: %+v", *c)
		}
		for _, field := range []string{c.Username, c.Realm, c.Nonce, c.URI, c.CNonce, c.Opaque} {
			if strings.ContainsAny(field, "\r\n\x00") {
				t.Fatalf("control character in %q", field)
			}
		}
		if c.User+func() string {
			if c.Domain != "" || strings.Contains(c.Username, "@") {
				return "@" + c.Domain
			}
			return ""
		}() != c.Username {
			t.Fatalf("user %q domain %q of %q", c.User, c.Domain, c.Username)
		}
		again, err := ParseCredentials(c.String())
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", c.String(), err)
		}
		if again.String() != c.String() {
			t.Fatalf("round trip: %q then %q", c.String(), again.String())
		}
	})
}

func FuzzNonce(f *testing.F) {
	k := deriveKeys([]byte("fuzz secret"))
	f.Add(k.issue(AlgMD5, 0, bindFields{}, 1000, 300))
	f.Add(k.issue(AlgSHA256, checkAll, bindFields{uri: "sip:x", callID: "c"}, 1000, 300))
	f.Add("AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ni, err := k.open(s)
		if err != nil {
			return
		}
		// Only a nonce this key issued opens, and it has one spelling.
		if ni.alg == nil {
			t.Fatal("opened without an algorithm")
		}
		if _, err := deriveKeys([]byte("other")).open(s); err == nil {
			t.Fatalf("%q opens with two keys", s)
		}
	})
}

// fuzzAuth is an Auth with a fixed secret and replay protection on.
func fuzzAuth(t testing.TB) *Auth {
	ps := kemi.Params{}
	for _, d := range params {
		if d.Default != nil {
			ps[d.Name] = d.Default
		}
	}
	ps["secret"] = "fuzzing secret, 32 characters..."
	ps["nonce_count"], ps["one_time_nonce"], ps["nc_array_order"], ps["otn_in_flight_order"] = 1, 1, 8, 8
	ps["auth_checks_register"] = 3
	a := &Auth{log: zap.NewNop()}
	if err := a.configure(ps); err != nil {
		t.Fatal(err)
	}
	return a
}

const fuzzRegister = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
	"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: fuzz@x\r\nCSeq: 1 REGISTER\r\n" +
	"Authorization: "

func FuzzAuthenticate(f *testing.F) {
	a := fuzzAuth(f)
	m0, err := msg.Parse([]byte(fuzzRegister+"x\r\nContent-Length: 0\r\n\r\n"), netip.MustParseAddrPort("192.0.2.1:5060"), nil, msg.UDP)
	if err != nil {
		f.Fatal(err)
	}
	lines, _ := a.challengeLines(m0, WWW, challengeOpts{realm: "example.com", qop: "auth", bind: true})
	ch := authtest.Challenges(lines)
	for _, c := range ch {
		cl := &authtest.Client{Username: "alice", Password: "secret"}
		f.Add(cl.Answer(c, authtest.Options{Method: "REGISTER", URI: "sip:example.com", QOP: "auth"}))
		f.Add(cl.Answer(c, authtest.Options{Method: "REGISTER", URI: "sip:example.com"}))
	}
	for _, s := range credentialSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := msg.Parse([]byte(fuzzRegister+v+"\r\nContent-Length: 0\r\n\r\n"), netip.MustParseAddrPort("192.0.2.1:5060"), nil, msg.UDP)
		if err != nil {
			return
		}
		c := &kemi.Ctx{M: m, Log: zap.NewNop()}
		code, cred := a.Authenticate(c, "example.com", WWW, "", func(*Credentials, string) (Secret, bool, error) {
			return Secret{Password: "secret"}, true, nil
		})
		switch code {
		case OK:
			if cred == nil || !strings.EqualFold(cred.Realm, "example.com") || cred.Username != "alice" {
				t.Fatalf("OK for %+v", cred)
			}
		case Error, InvalidPassword, StaleNonce, NoCredentials, NonceReused:
		default:
			t.Fatalf("unexpected code %d", code)
		}
		if code != NoCredentials && code != Error && cred == nil {
			t.Fatalf("code %d without credentials", code)
		}
		// Whatever was sent, the variables read without panicking.
		_ = currentCredentials(m)
	})
}

// credentialSeeds are the parser test inputs, good and bad.
func credentialSeeds() []string {
	ok := `username="u", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`
	return []string{
		"Digest " + ok,
		`Digest username="alice",realm="example.com",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:example.com",nonce="abc",response="` + md5Resp + `",algorithm=MD5`,
		"digest USERNAME=\"a\\\"b\",\trealm = \"r\" ,\r\n nonce=\"n\", uri=\"sip:x\", response=\"" + md5Resp + "\", qop=\"auth-int\", nc=0000000A, cnonce=\"c\"",
		`Digest username="u", realm="r", nonce="n", uri="sip:x", response="` + strings.Repeat("a", 64) + `", algorithm=SHA-256-sess, cnonce="c"`,
		"Digest " + ok + ", realm=\"x\"",
		`Digest username="u\`,
		"Digest " + ok + ",",
		"Digest " + ok + ", qop=auth",
		"Basic dXNlcjpwYXNz",
		"Digest username=\"u\x00\"",
	}
}

func TestFuzzSeedsSane(t *testing.T) {
	// The corpus seeds parse as the unit tests say (guards against a seed
	// silently testing nothing).
	good := 0
	for _, s := range credentialSeeds() {
		if _, err := ParseCredentials(s); err == nil {
			good++
		} else if errors.Is(err, ErrNotDigest) && !strings.HasPrefix(s, "Basic") {
			t.Errorf("%q: %v", s, err)
		}
	}
	if good != 4 {
		t.Errorf("%d good seeds, want 4", good)
	}
}
