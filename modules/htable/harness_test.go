package htable_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/htable"
	_ "github.com/luasbc/luasbc/modules/sl"
)

// node is a luasbc instance whose request route runs the Lua function named
// by the request's X-Step header; the function returns values that come
// back joined with "|" in the X-R header of a 200 reply.
type node struct {
	h *kemitest.Harness
}

// scriptFrame wraps the test's Lua functions (steps) with the route.
const scriptFrame = `
function pack(...) return {n = select("#", ...), ...} end

function ksr_request_route()
	local step = KSR.hdr.get("X-Step")
	local f = _G[step]
	local r = {}
	if f then
		local vals = pack(f())
		for i = 1, vals.n do r[i] = tostring(vals[i]) end
	else
		r[1] = "no step " .. tostring(step)
	end
	KSR.hdr.append_to_reply("X-R: " .. table.concat(r, "|") .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
`

// startNode runs steps (Lua source defining step functions) with htable
// configured by params.
func startNode(t *testing.T, steps string, params map[string]any) *node {
	t.Helper()
	// A generous script deadline: Redis and PostgreSQL round trips on a
	// loaded test machine must not cut a step short.
	h := kemitest.New(t, scriptFrame+steps, kemitest.Options{Modules: map[string]map[string]any{"sl": nil, "htable": params},
		Extra: "lua: {load: script.lua, workers: 2, timeout_ms: 2000}"})
	return &node{h: h}
}

var cseq atomic.Int64

// run calls a step and returns its results.
func (n *node) run(t *testing.T, step string) []string {
	t.Helper()
	req := kemitest.Request("OPTIONS", fmt.Sprintf("sip:htable@127.0.0.1:%d", n.h.ServerPort()),
		"X-Step: "+step, fmt.Sprintf("X-Seq: %d", cseq.Add(1)))
	n.h.Send(req)
	rep := n.h.Recv(5 * time.Second)
	if rep == "" {
		t.Fatalf("step %s: no reply", step)
	}
	for _, l := range strings.Split(rep, "\r\n") {
		if v, ok := strings.CutPrefix(l, "X-R: "); ok {
			return strings.Split(v, "|")
		}
	}
	t.Fatalf("step %s: no X-R in %q", step, rep)
	return nil
}

// expect runs a step and compares its results.
func (n *node) expect(t *testing.T, step string, want ...string) {
	t.Helper()
	got := n.run(t, step)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("step %s:\n got  %q\n want %q", step, got, want)
	}
}

// rpc calls a method with string parameters.
func (n *node) rpc(t *testing.T, method string, params ...any) (any, *rpc.Error) {
	t.Helper()
	var ps rpc.Params
	for _, p := range params {
		b, _ := json.Marshal(p)
		ps = append(ps, b)
	}
	res, err := n.h.RPC.Call(context.Background(), method, ps)
	if err != nil {
		return nil, err
	}
	// Round trip through JSON, as a client sees it.
	b, _ := json.Marshal(res)
	var out any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

// eventually retries f until it returns "" or d passes.
func eventually(t *testing.T, d time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
