package authdb

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/kemi"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/auth"
	"github.com/luasbc/luasbc/modules/auth/authtest"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// testScript runs the auth_db function its X-Op header names, answers 200
// (or, for a failed authentication, a challenge) with X-RC and the loaded
// AVPs in X-AVP.
const testScript = `
local function hdr(n, d) return KSR.hdr.get(n) or d end
function ksr_request_route()
  if KSR.is_ACK() then return end
  local op = hdr("X-Op", "check")
  local realm = hdr("X-Realm", "example.com")
  local tbl = hdr("X-Table", "subscriber")
  local flags = tonumber(hdr("X-Flags", "1"))
  local rc
  if op == "check" then rc = KSR.auth_db.auth_check(realm, tbl, flags)
  elseif op == "www" then rc = KSR.auth_db.www_authenticate(realm, tbl)
  elseif op == "wwwm" then rc = KSR.auth_db.www_authenticate_method(realm, tbl, hdr("X-Method", "INVITE"))
  elseif op == "proxy" then rc = KSR.auth_db.proxy_authenticate(realm, tbl)
  elseif op == "subs" then rc = KSR.auth_db.is_subscriber(hdr("X-URI", ""), tbl, flags)
  end
  KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
  local n = KSR.pv.get("$avp(n)")
  KSR.hdr.append_to_reply("X-AVP: rpid=" .. KSR.pv.getw("$avp(rpid)") .. " email=" .. KSR.pv.getw("$avp(email_address)") ..
    " n=" .. type(n) .. ":" .. tostring(n) .. "\r\n")
  if rc < 0 and op ~= "subs" then
    KSR.auth.auth_challenge(realm, 1)
    return
  end
  KSR.sl.send_reply(200, "OK")
end
`

type harness struct {
	t *testing.T
	h *kemitest.Harness
}

// newHarness starts sl, auth and auth_db with params; extra is top-level YAML.
func newHarness(t *testing.T, params map[string]any, extra string) *harness {
	t.Helper()
	mods := map[string]map[string]any{"sl": nil, "auth": nil, "auth_db": params}
	return &harness{t: t, h: kemitest.New(t, testScript, kemitest.Options{Modules: mods, Extra: extra})}
}

// newHarnessAuth is newHarness with parameters for auth too.
func newHarnessAuth(t *testing.T, authParams, params map[string]any) *harness {
	t.Helper()
	mods := map[string]map[string]any{"sl": nil, "auth": authParams, "auth_db": params}
	return &harness{t: t, h: kemitest.New(t, testScript, kemitest.Options{Modules: mods})}
}

// tryStart builds an engine with auth and auth_db (params) and starts the
// modules, returning the first error (what sbc reports at start-up).
func tryStart(t *testing.T, params map[string]any, extra string) error {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "s.lua")
	if err := os.WriteFile(script, []byte("function ksr_request_route() end"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"listen": []string{"udp:127.0.0.1:0"}, "lua": map[string]any{"load": script},
		"modules": map[string]any{"sl": map[string]any{}, "auth": map[string]any{}, "auth_db": params}}
	if extra != "" {
		var x map[string]any
		if err := yaml.Unmarshal([]byte(extra), &x); err != nil {
			t.Fatal(err)
		}
		for k, v := range x {
			doc[k] = v
		}
	}
	raw, _ := yaml.Marshal(doc)
	cfg, err := config.Parse(raw, dir)
	if err != nil {
		return err
	}
	log := zap.NewNop()
	eng, err := kemi.NewEngine(core.New(cfg, log), cfg, log, nil)
	if err != nil {
		return err
	}
	defer eng.Stop()
	return eng.StartModules()
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type req = authtest.Request

func (s *harness) send(r req) string {
	s.t.Helper()
	rep := s.h.Exchange(r.Text())
	if rep == "" {
		s.t.Fatalf("no reply to %s", r.Method)
	}
	return rep
}

// auth sends r, answers the challenge as cl (qop auth) and returns the
// final reply.
func (s *harness) auth(r req, cl *authtest.Client) string {
	s.t.Helper()
	rep := s.send(r)
	chs := authtest.Challenges(rep)
	if len(chs) == 0 {
		s.t.Fatalf("no challenge: %q", rep)
	}
	return s.send(r.WithAnswer(cl, chs[0], "auth"))
}

func rc(reply string) string { return authtest.Header(reply, "X-RC") }
