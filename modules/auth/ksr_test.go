package auth

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
	"github.com/luasbc/luasbc/modules/auth/authtest"
)

func TestRegisterMD5(t *testing.T) {
	s := newHarness(t, nil)
	r := req{}
	chs := s.challenge(r)
	if len(chs) != 1 || chs[0].Proxy || chs[0].Realm != "example.com" || chs[0].Algorithm != "MD5" || len(chs[0].QOP) != 0 || chs[0].Stale {
		t.Fatalf("challenge %+v", chs)
	}
	rep := s.answer(r, alice(), chs[0], "")
	if kemitest.StatusCode(rep) != 200 || rc(rep) != "1" {
		t.Fatalf("answer: %q", rep)
	}
	vars := header(rep, "X-Vars")
	for _, want := range []string{"$au=alice", "$aU=alice", "$ad= ", "$ar=example.com", "$adu=sip:example.com", "$aa=MD5", "$Au=alice@example.com"} {
		if !strings.Contains(vars+" ", want) {
			t.Errorf("vars %q lack %q", vars, want)
		}
	}
}

func TestQOPAuthAndAuthInt(t *testing.T) {
	s := newHarness(t, nil)
	// qop=auth from the challenge flags; nonces are reusable with growing nc.
	r := req{Headers: []string{"X-CFlags: 1"}}
	ch := s.challenge(r)[0]
	if len(ch.QOP) != 1 || ch.QOP[0] != "auth" {
		t.Fatalf("qop %v", ch.QOP)
	}
	cl := alice()
	for i := 0; i < 3; i++ {
		if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "1" {
			t.Fatalf("round %d: %q", i, rep)
		}
	}
	// auth-int over the body, with Proxy-Authorization for a MESSAGE.
	m := req{Method: "MESSAGE", RURI: "sip:bob@example.com", To: "<sip:bob@example.com>", Body: "hello", Headers: []string{"X-CFlags: 2"}}
	ch = s.challenge(m)[0]
	if !ch.Proxy || len(ch.QOP) != 1 || ch.QOP[0] != "auth-int" {
		t.Fatalf("MESSAGE challenge %+v", ch)
	}
	if rep := s.answer(m, alice(), ch, "auth-int"); rc(rep) != "1" {
		t.Fatalf("auth-int: %q", rep)
	}
	// The body is covered: credentials computed over another body fail.
	other := m
	other.Body = "HELLO"
	cl = alice()
	other.Headers = append(append([]string{}, m.Headers...), cl.Header(ch, authtest.Options{Method: "MESSAGE", URI: m.RURI, Body: "hello", QOP: "auth-int"}))
	if rep := s.send(other); rc(rep) != "-2" {
		t.Fatalf("auth-int with another Body: %q", rep)
	}
	// The qop modparam applies when the flags ask for none.
	s2 := newHarness(t, map[string]any{"qop": "auth-int"})
	if ch := s2.challenge(req{})[0]; len(ch.QOP) != 1 || ch.QOP[0] != "auth-int" {
		t.Fatalf("modparam qop: %v", ch.QOP)
	}
}

func TestSHA256AndMultipleChallenges(t *testing.T) {
	s := newHarness(t, map[string]any{"algorithm": "SHA-256, MD5"})
	r := req{Headers: []string{"X-CFlags: 1"}}
	chs := s.challenge(r)
	if len(chs) != 2 || chs[0].Algorithm != "SHA-256" || chs[1].Algorithm != "MD5" || chs[0].Nonce == chs[1].Nonce {
		t.Fatalf("challenges %+v", chs)
	}
	for _, ch := range chs {
		if rep := s.answer(r, alice(), ch, "auth"); rc(rep) != "1" {
			t.Fatalf("%s: %q", ch.Algorithm, rep)
		}
	}
	// Answering the SHA-256 challenge's nonce with MD5 is a downgrade: -1.
	down := alice()
	down.Algorithm = "MD5"
	if rep := s.answer(r, down, chs[0], "auth"); rc(rep) != "-1" {
		t.Fatalf("downgrade: %q", rep)
	}
	// auth_algorithm overrides the list for one request.
	chs = s.challenge(req{Headers: []string{"X-Op: alg", "X-Alg: SHA-512-256"}})
	if len(chs) != 1 || chs[0].Algorithm != "SHA-512-256" {
		t.Fatalf("auth_algorithm: %+v", chs)
	}
	if rep := s.answer(r, alice(), chs[0], "auth"); rc(rep) != "1" {
		t.Fatalf("SHA-512-256: %q", rep)
	}
	// -sess variants.
	s2 := newHarness(t, map[string]any{"algorithm": "SHA-256-sess"})
	ch := s2.challenge(r)[0]
	if rep := s2.answer(r, alice(), ch, "auth"); rc(rep) != "1" {
		t.Fatalf("SHA-256-sess: %q", rep)
	}
}

func TestWrongPasswordAndFailures(t *testing.T) {
	s := newHarness(t, nil)
	r := req{}
	ch := s.challenge(r)[0]
	bad := &authtest.Client{Username: "alice", Password: "guess"}
	for i := 0; i < 3; i++ {
		rep := s.answer(r, bad, ch, "")
		if rc(rep) != "-2" || kemitest.StatusCode(rep) != 401 {
			t.Fatalf("wrong password: %q", rep)
		}
	}
	mallory := &authtest.Client{Username: "mallory", Password: "x"}
	s.answer(r, mallory, ch, "")
	// RPC: per source and user, most first.
	res, err := s.h.RPC.Call(context.Background(), "auth.failures", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res)
	var list []FailureInfo
	_ = json.Unmarshal(raw, &list)
	if len(list) != 2 || list[0].User != "alice" || list[0].Count != 3 || list[0].LastCode != -2 || list[0].IP != "127.0.0.1" ||
		list[1].User != "mallory" || list[1].Count != 1 {
		t.Fatalf("failures %s", raw)
	}
	if got := s.auth.Failures(netip.MustParseAddr("192.0.2.9")); len(got) != 0 {
		t.Errorf("other IP: %+v", got)
	}
	if _, err := s.h.RPC.Call(context.Background(), "auth.failures", []json.RawMessage{json.RawMessage(`"nope"`)}); err == nil {
		t.Error("bad IP accepted")
	}
	// An empty password never authenticates, even against empty credentials.
	if rep := s.answer(req{Headers: []string{"X-Pass: "}}, &authtest.Client{Username: "alice"}, ch, ""); rc(rep) != "-1" {
		t.Errorf("empty password: %q", rep)
	}
}

func TestNonceCount(t *testing.T) {
	s := newHarness(t, map[string]any{"nonce_count": 1, "qop": "auth", "nc_array_order": 10})
	r := req{}
	ch := s.challenge(r)[0]
	cl := alice()
	cl.NC = 1
	if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "1" {
		t.Fatalf("nc 1: %q", rep)
	}
	// The same nc again (a replay, or a retransmission outside a transaction): -6.
	if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "-6" {
		t.Fatalf("nc 1 again: %q", rep)
	}
	cl.NC = 2
	if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "1" {
		t.Fatalf("nc 2: %q", rep)
	}
	cl.NC = 5 // counts may skip
	if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "1" {
		t.Fatalf("nc 5: %q", rep)
	}
	cl.NC = 4
	if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "-6" {
		t.Fatalf("nc 4 after 5: %q", rep)
	}
	// A wrong password does not use up a count.
	bad := &authtest.Client{Username: "alice", Password: "guess", NC: 9}
	if rep := s.answer(r, bad, ch, "auth"); rc(rep) != "-2" {
		t.Fatalf("wrong password: %q", rep)
	}
	cl.NC = 9
	if rep := s.answer(r, cl, ch, "auth"); rc(rep) != "1" {
		t.Fatalf("nc 9 after a failed 9: %q", rep)
	}
}

func TestOneTimeNonce(t *testing.T) {
	s := newHarness(t, map[string]any{"one_time_nonce": 1, "otn_in_flight_order": 10, "add_authinfo_hdr": 1})
	r := req{}
	ch := s.challenge(r)[0]
	rep := s.answer(r, alice(), ch, "")
	if rc(rep) != "1" {
		t.Fatalf("first use: %q", rep)
	}
	// Authentication-Info carries a fresh nonce for the next request.
	info := header(rep, "Authentication-Info")
	if !strings.Contains(info, "nextnonce=") || strings.Contains(info, ch.Nonce) || !strings.Contains(info, "rspauth=") {
		t.Fatalf("Authentication-Info %q", info)
	}
	if rep := s.answer(r, alice(), ch, ""); rc(rep) != "-6" {
		t.Fatalf("second use: %q", rep)
	}
	next := ch
	next.Nonce = strings.TrimSuffix(strings.SplitN(strings.SplitN(info, `nextnonce="`, 2)[1], `"`, 2)[0], `"`)
	if rep := s.answer(r, alice(), next, ""); rc(rep) != "1" {
		t.Fatalf("nextnonce: %q", rep)
	}
}

func TestAuthenticationInfoRspauth(t *testing.T) {
	s := newHarness(t, map[string]any{"add_authinfo_hdr": 1})
	r := req{Headers: []string{"X-CFlags: 1"}}
	ch := s.challenge(r)[0]
	cl := alice()
	cl.CNonce = "0a4f113b"
	rep := s.answer(r, cl, ch, "auth")
	info := header(rep, "Authentication-Info")
	// rspauth is the response with an empty method (RFC 7616 §3.5).
	ha1 := AlgMD5.HA1("alice", "example.com", "secret")
	want := AlgMD5.Response(ha1, ch.Nonce, "00000001", "0a4f113b", "auth", "", "sip:example.com", "")
	if !strings.Contains(info, `rspauth="`+want+`"`) || !strings.Contains(info, `nextnonce="`+ch.Nonce+`"`) ||
		!strings.Contains(info, "qop=auth") || !strings.Contains(info, "nc=00000001") {
		t.Fatalf("Authentication-Info %q, want rspauth %s", info, want)
	}
}

func TestStaleNonce(t *testing.T) {
	s := newHarness(t, map[string]any{"nonce_expire": 60})
	r := req{}
	ch := s.challenge(r)[0]
	s.auth.skew.Store(61)
	rep := s.answer(r, alice(), ch, "")
	if rc(rep) != "-4" {
		t.Fatalf("expired: %q", rep)
	}
	// The script challenged with flags 0: stale=true all the same.
	nch := authtest.Challenges(rep)
	if len(nch) != 1 || !nch[0].Stale || nch[0].Nonce == ch.Nonce {
		t.Fatalf("re-challenge %+v", nch)
	}
	if rep := s.answer(r, alice(), nch[0], ""); rc(rep) != "1" {
		t.Fatalf("fresh nonce: %q", rep)
	}
	// A nonce from the future beyond nonce_auth_max_drift is stale too.
	s.auth.skew.Store(-10)
	if rep := s.answer(r, alice(), nch[0], ""); rc(rep) != "-4" {
		t.Fatalf("future nonce: %q", rep)
	}
	s.auth.skew.Store(0)
	// Flag 16 asks for stale=true explicitly.
	if ch := s.challenge(req{Headers: []string{"X-CFlags: 16"}})[0]; !ch.Stale {
		t.Error("flag 16 without stale=true")
	}
	if s.challenge(r)[0].Stale {
		t.Error("stale=true without a stale nonce")
	}
}

func TestSharedSecretAcrossNodes(t *testing.T) {
	p := map[string]any{"secret": "0123456789abcdef0123456789abcdef", "nonce_count": 1, "qop": "auth"}
	a, b := newHarness(t, p), newHarness(t, p)
	r := req{}
	ch := a.challenge(r)[0]
	cl := alice()
	if rep := b.answer(r, cl, ch, "auth"); rc(rep) != "1" {
		t.Fatalf("node B with node A's nonce: %q", rep)
	}
	if rep := a.answer(r, cl, ch, "auth"); rc(rep) != "1" {
		t.Fatalf("node A, nc 2: %q", rep)
	}
	// A node with another secret refuses it (-1, then a fresh challenge).
	c := newHarness(t, map[string]any{"secret": "another secret, long enough......"})
	rep := c.answer(r, cl, ch, "auth")
	if rc(rep) != "-1" || kemitest.StatusCode(rep) != 401 {
		t.Fatalf("node C: %q", rep)
	}
}

func TestNonceBoundToMessage(t *testing.T) {
	s := newHarness(t, map[string]any{"auth_checks_register": CheckCallID | CheckSrcIP, "auth_checks_no_dlg": CheckURI})
	r := req{CallID: "reg-1@test"}
	ch := s.challenge(r)[0]
	if rep := s.answer(r, alice(), ch, ""); rc(rep) != "1" {
		t.Fatalf("same Call-ID: %q", rep)
	}
	r2 := r
	r2.CallID = "reg-2@test"
	if rep := s.answer(r2, alice(), ch, ""); rc(rep) != "-4" {
		t.Fatalf("other Call-ID: %q", rep)
	}
	// A REGISTER nonce is not good for an INVITE (other checks): stale.
	inv := req{Method: "INVITE", RURI: "sip:bob@example.com", To: "<sip:bob@example.com>", CallID: "reg-1@test"}
	ich := ch
	ich.Proxy = true
	if rep := s.answer(inv, alice(), ich, ""); rc(rep) != "-4" {
		t.Fatalf("REGISTER nonce on INVITE: %q", rep)
	}
	// INVITE nonces are bound to the R-URI.
	ich = s.challenge(inv)[0]
	if rep := s.answer(inv, alice(), ich, ""); rc(rep) != "1" {
		t.Fatalf("INVITE: %q", rep)
	}
	inv.RURI = "sip:carol@example.com"
	inv.To = "<sip:carol@example.com>"
	if rep := s.answer(inv, alice(), ich, ""); rc(rep) != "-4" {
		t.Fatalf("INVITE with another R-URI: %q", rep)
	}
}

func TestForgedAndMalformed(t *testing.T) {
	s := newHarness(t, nil)
	r := req{}
	ch := s.challenge(r)[0]
	forged := ch
	forged.Nonce = "AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if rep := s.answer(r, alice(), forged, ""); rc(rep) != "-1" || kemitest.StatusCode(rep) != 401 {
		t.Fatalf("forged nonce: %q", rep)
	}
	for _, bad := range []string{
		`Authorization: Digest username="alice", realm="example.com", nonce="` + ch.Nonce + `"`,
		`Authorization: Digest username="alice", realm="example.com", realm="example.com", nonce="x", uri="sip:example.com", response="` + md5Resp + `"`,
		`Authorization: Digest username="alice, realm="example.com"`,
	} {
		rep := s.send(req{Headers: []string{bad}})
		if rc(rep) != "-1" || kemitest.StatusCode(rep) != 401 {
			t.Errorf("%s: %q", bad, rep)
		}
	}
	// Credentials for another realm: none for ours (-5). Basic is ignored.
	other := ch
	other.Realm = "other.example"
	if rep := s.answer(r, alice(), other, ""); rc(rep) != "-5" {
		t.Errorf("other realm: %q", rep)
	}
	if rep := s.send(req{Headers: []string{"Authorization: Basic YWxpY2U6c2VjcmV0"}}); rc(rep) != "-5" {
		t.Errorf("Basic: %q", rep)
	}
	// Too many credentials headers.
	var many []string
	for i := 0; i < maxCredHeaders+1; i++ {
		many = append(many, `Authorization: Digest username="u`+string(rune('a'+i))+`", realm="x", nonce="n", uri="sip:x", response="`+md5Resp+`"`)
	}
	if rep := s.send(req{Headers: many}); rc(rep) != "-1" {
		t.Errorf("too many headers: %q", rep)
	}
}

func TestIdentityCheck(t *testing.T) {
	s := newHarness(t, nil)
	// REGISTER for bob authenticated as alice: -8.
	r := req{To: "<sip:bob@example.com>", From: "<sip:bob@example.com>;tag=x"}
	ch := s.challenge(r)[0]
	if rep := s.answer(r, alice(), ch, ""); rc(rep) != "-8" {
		t.Fatalf("mismatch: %q", rep)
	}
	// checks 0 skips it.
	r.Headers = []string{"X-Checks: 0"}
	if rep := s.answer(r, alice(), ch, ""); rc(rep) != "1" {
		t.Fatalf("no checks: %q", rep)
	}
	// INVITE: the From user counts.
	inv := req{Method: "INVITE", RURI: "sip:bob@example.com", To: "<sip:bob@example.com>"}
	ich := s.challenge(inv)[0]
	if !ich.Proxy {
		t.Fatal("INVITE challenged with 401")
	}
	if rep := s.answer(inv, alice(), ich, ""); rc(rep) != "1" {
		t.Fatalf("INVITE: %q", rep)
	}
	// ACK is never challenged.
	s.h.Send(req{Method: "ACK", Headers: []string{"X-Op: www"}}.Text())
	if got := s.h.Recv(200 * time.Millisecond); got != "" {
		t.Errorf("ACK answered: %q", got)
	}
}

func TestScriptHelpers(t *testing.T) {
	s := newHarness(t, map[string]any{"realm_prefix": "sip.", "challenge_attr": "$digest_challenge"})
	// realm_prefix is stripped from the challenge realm.
	r := req{Headers: []string{"X-Realm: sip.example.com"}}
	ch := s.challenge(r)[0]
	if ch.Realm != "example.com" {
		t.Fatalf("realm %q", ch.Realm)
	}
	if rep := s.answer(r, alice(), ch, ""); rc(rep) != "1" {
		t.Fatalf("stripped realm: %q", rep)
	}
	// has_credentials.
	if rep := s.answer(req{Headers: []string{"X-Op: has"}}, alice(), ch, ""); rc(rep) != "1" {
		t.Errorf("has_credentials: %q", rep)
	}
	if rep := s.send(req{Headers: []string{"X-Op: has", "X-NoChallenge: 1"}}); rc(rep) != "-1" {
		t.Errorf("has_credentials without: %q", rep)
	}
	// auth_get_www_authenticate fills the variable.
	rep := s.send(req{Headers: []string{"X-Op: getwww", "X-Flags: 1"}})
	if w := header(rep, "X-W"); !strings.HasPrefix(w, `WWW-Authenticate: Digest realm="example.com", nonce="`) || !strings.Contains(w, `qop="auth"`) {
		t.Errorf("auth_get_www_authenticate: %q", w)
	}
	// pv flags 4: the challenge goes into $avp(digest_challenge).
	rep = s.send(req{Headers: []string{"X-Op: avp", "X-Flags: 4", "X-NoChallenge: 1"}})
	if c := header(rep, "X-Chal"); !strings.HasPrefix(c, "WWW-Authenticate: Digest") || !strings.Contains(c, `qop="auth"`) {
		t.Errorf("challenge AVP %q", c)
	}
	// pv_www_authenticate_method: the digest covers the given method.
	mreq := req{Headers: []string{"X-Op: method", "X-Method: OPTIONS"}}
	cl := alice()
	mreq.Headers = append(mreq.Headers, cl.Header(ch, authtest.Options{Method: "OPTIONS", URI: "sip:example.com"}))
	if rep := s.send(mreq); rc(rep) != "1" {
		t.Errorf("method variant: %q", rep)
	}
	// HA1 instead of the password (flag 1).
	ha1 := authtest.HA1("MD5", "alice", "example.com", "secret")
	if rep := s.answer(req{Headers: []string{"X-Op: www", "X-Flags: 1", "X-Pass: " + ha1}}, alice(), ch, ""); rc(rep) != "1" {
		t.Errorf("HA1: %q", rep)
	}
	if rep := s.answer(req{Headers: []string{"X-Op: www", "X-Flags: 1", "X-Pass: abc", "X-NoChallenge: 1"}}, alice(), ch, ""); rc(rep) != "-1" {
		t.Errorf("short HA1: %q", rep)
	}
	// consume_credentials after success.
	if rep := s.answer(req{Headers: []string{"X-Consume: 1"}}, alice(), ch, ""); header(rep, "X-Consumed") != "1" {
		t.Errorf("consume_credentials: %q", rep)
	}
	// A challenge realm with a control character is not built: 500.
	if rep := s.send(req{Headers: []string{"X-Realm: a\x01b"}}); kemitest.StatusCode(rep) != 500 {
		t.Errorf("bad realm: %q", rep)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, p := range []map[string]any{
		{"algorithm": "SHA-1"},
		{"qop": "auth-conf"},
		{"nonce_expire": 0},
		{"auth_checks_register": 16},
		{"challenge_attr": "digest"},
		{"www_challenge_header": "WWW Authenticate"},
		{"nonce_count": 1, "nc_array_order": 40},
		{"failure_track_expire": 0},
	} {
		ps := kemi.Params{}
		for _, d := range params {
			if d.Default != nil {
				ps[d.Name] = d.Default
			}
		}
		for k, v := range p {
			ps[k] = v
		}
		a := &Auth{log: zap.NewNop()}
		if err := a.configure(ps); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
