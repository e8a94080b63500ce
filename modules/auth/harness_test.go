package auth

import (
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
	"github.com/luasbc/luasbc/modules/auth/authtest"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// testScript authenticates every request with the operation its X-Op
// header names and answers 200 (with X-RC and the auth variables) or a
// challenge (with X-RC). X-Flags are the authentication flags, X-CFlags
// the challenge flags.
const testScript = `
local function hdr(n, d) return KSR.hdr.get(n) or d end
function ksr_request_route()
  if KSR.is_ACK() then return end
  local op = hdr("X-Op", "check")
  local realm = hdr("X-Realm", "example.com")
  local flags = tonumber(hdr("X-Flags", "0"))
  local pass = hdr("X-Pass", "secret")
  local rc
  if op == "check" then rc = KSR.auth.pv_auth_check(realm, pass, flags, tonumber(hdr("X-Checks", "1")))
  elseif op == "www" then rc = KSR.auth.pv_www_authenticate(realm, pass, flags)
  elseif op == "proxy" then rc = KSR.auth.pv_proxy_authenticate(realm, pass, flags)
  elseif op == "method" then rc = KSR.auth.pv_www_authenticate_method(realm, pass, flags, hdr("X-Method", "INVITE"))
  elseif op == "has" then rc = KSR.auth.has_credentials(realm)
  elseif op == "getwww" then
    rc = KSR.auth.auth_get_www_authenticate(realm, flags, "$var(w)")
    KSR.hdr.append_to_reply("X-W: " .. string.gsub(KSR.pv.gete("$var(w)"), "\r\n", "|") .. "\r\n")
  elseif op == "alg" then
    rc = KSR.auth.auth_algorithm(hdr("X-Alg", "SHA-256"))
    KSR.auth.auth_challenge(realm, 0)
    return
  elseif op == "avp" then
    rc = KSR.auth.pv_www_authenticate(realm, pass, flags)
    KSR.hdr.append_to_reply("X-Chal: " .. string.gsub(KSR.pv.gete("$avp(digest_challenge)"), "\r\n", "|") .. "\r\n")
  end
  KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
  if rc < 0 then
    if hdr("X-NoChallenge", "") ~= "" then
      KSR.sl.send_reply(403, "Forbidden")
      return
    end
    local cflags = tonumber(hdr("X-CFlags", "0"))
    local crc
    if op == "www" or op == "method" then crc = KSR.auth.www_challenge(realm, cflags)
    elseif op == "proxy" then crc = KSR.auth.proxy_challenge(realm, cflags)
    else crc = KSR.auth.auth_challenge(realm, cflags) end
    if crc < 0 then KSR.sl.send_reply(599, "challenge " .. crc) end
    return
  end
  local vars = {}
  for _, v in ipairs({"$au", "$aU", "$ad", "$ar", "$adu", "$aa", "$Au"}) do
    vars[#vars+1] = v .. "=" .. KSR.pv.getw(v)
  end
  KSR.hdr.append_to_reply("X-Vars: " .. table.concat(vars, " ") .. "\r\n")
  if hdr("X-Consume", "") ~= "" then
    KSR.hdr.append_to_reply("X-Consumed: " .. KSR.auth.consume_credentials() .. "\r\n")
  end
  KSR.sl.send_reply(200, "OK")
end
`

type harness struct {
	t    *testing.T
	h    *kemitest.Harness
	auth *Auth
}

func newHarness(t *testing.T, params map[string]any) *harness {
	t.Helper()
	h := kemitest.New(t, testScript, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "auth": params}})
	a, ok := h.Engine.Instance("auth").(*Auth)
	if !ok {
		t.Fatal("auth not loaded")
	}
	return &harness{t: t, h: h, auth: a}
}

// req is a request from alice (see authtest.Request for the defaults).
type req = authtest.Request

// send sends a request and returns the reply.
func (s *harness) send(r req) string {
	s.t.Helper()
	rep := s.h.Exchange(r.Text())
	if rep == "" {
		s.t.Fatalf("no reply to %s", r.Method)
	}
	return rep
}

func header(reply, name string) string { return authtest.Header(reply, name) }

func rc(reply string) string { return header(reply, "X-RC") }

// challenge sends r without credentials and returns the challenges.
func (s *harness) challenge(r req) []authtest.Challenge {
	s.t.Helper()
	rep := s.send(r)
	code := kemitest.StatusCode(rep)
	if code != 401 && code != 407 {
		s.t.Fatalf("no challenge: %q", rep)
	}
	ch := authtest.Challenges(rep)
	if len(ch) == 0 {
		s.t.Fatalf("challenge without digest header: %q", rep)
	}
	return ch
}

// answer sends r with credentials for ch and returns the reply.
func (s *harness) answer(r req, cl *authtest.Client, ch authtest.Challenge, qop string) string {
	s.t.Helper()
	return s.send(r.WithAnswer(cl, ch, qop))
}

func alice() *authtest.Client { return &authtest.Client{Username: "alice", Password: "secret"} }
