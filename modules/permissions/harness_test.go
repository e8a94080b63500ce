package permissions_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/permissions"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// server runs a script whose request route evaluates Lua expressions (the
// X-Eval header of the request selects which list, by index) and answers
// 200 with their results in X-R, separated by '|'.
type server struct {
	t *testing.T
	h *kemitest.Harness
}

// start runs the permissions module with params; exprs[i] is the list of
// expressions evaluated for a request carrying "X-Eval: i".
func start(t *testing.T, params map[string]any, exprs ...[]string) *server {
	t.Helper()
	return startExtra(t, "", params, exprs...)
}

// startExtra is start with extra top-level YAML (such as a global db_url).
func startExtra(t *testing.T, extra string, params map[string]any, exprs ...[]string) *server {
	t.Helper()
	var lua strings.Builder
	lua.WriteString("local lists = {}\n")
	for i, list := range exprs {
		lua.WriteString("lists[" + itoa(i) + "] = function()\n  local r = {}\n")
		for _, e := range list {
			lua.WriteString("  r[#r+1] = tostring(" + e + ")\n")
		}
		lua.WriteString("  return r\nend\n")
	}
	lua.WriteString(`function ksr_request_route()
  local i = tonumber(KSR.hdr.get("X-Eval") or "0")
  local r = lists[i]()
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, "|") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end
`)
	mods := map[string]map[string]any{"sl": nil, "corex": nil, "permissions": params}
	return &server{t: t, h: kemitest.New(t, lua.String(), kemitest.Options{Modules: mods, Extra: extra})}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// eval sends a request (method, R-URI, extra headers) selecting list i and
// returns the results.
func (s *server) eval(i int, method, ruri string, hdrs ...string) []string {
	s.t.Helper()
	return s.evalRaw(kemitest.Request(method, ruri, append(hdrs, "X-Eval: "+itoa(i))...))
}

// evalRaw sends a request text and returns the results.
func (s *server) evalRaw(raw string) []string {
	s.t.Helper()
	rep := s.h.Exchange(raw)
	if kemitest.StatusCode(rep) != 200 {
		s.t.Fatalf("no 200 reply: %q", rep)
	}
	for _, line := range strings.Split(rep, "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-R: "); ok {
			return strings.Split(v, "|")
		}
	}
	s.t.Fatalf("no X-R in %q", rep)
	return nil
}

// kemitestRequest builds a request text (From alice, To bob).
var kemitestRequest = kemitest.Request

// want compares results.
func (s *server) want(got []string, want ...string) {
	s.t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		s.t.Errorf("got  %v\nwant %v", got, want)
	}
}

// rpc calls a method; a method error comes back as the error.
func (s *server) rpc(method string, params ...any) (any, *rpc.Error) {
	s.t.Helper()
	var ps rpc.Params
	for _, p := range params {
		b, _ := json.Marshal(p)
		ps = append(ps, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.h.RPC.Call(ctx, method, ps)
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// asJSON renders an RPC result for substring checks.
func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func removeFile(p string) error { return os.Remove(p) }
