package registrar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/registrar"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/tm"
	_ "github.com/luasbc/luasbc/modules/usrloc"
)

// regtest is a test-only module whose KSR.regtest.branches() shows the
// destination set lookup built: "uri dst path q flags" per branch, joined
// with " | ".
func init() {
	kemi.RegisterModule(&kemi.Module{Name: "regtest", New: func(*kemi.Env) (kemi.Instance, error) { return regtest{}, nil }})
}

type regtest struct{}

func (regtest) Exports() []kemi.Export {
	return []kemi.Export{kemi.Fn0X("branches", "destination set", func(c *kemi.Ctx) kemi.Value {
		var parts []string
		for _, b := range c.M.Branches {
			parts = append(parts, fmt.Sprintf("%s %s %s %d %d", b.URI, b.DstURI, b.Path, b.Q, b.Flags))
		}
		return kemi.StrV(strings.Join(parts, " | "))
	})}
}

// scriptFrame saves REGISTERs (flags from X-Flags, received from X-Received,
// branch flag X-BFlag; with X-Deferred the reply goes out through
// reg_send_reply carrying save's code in X-RC) and runs the Lua function
// named by X-Step for other requests, answering 200 with its results in X-R.
const scriptFrame = `
function pack(...) return {n = select("#", ...), ...} end

function ksr_request_route()
	local step = KSR.hdr.get("X-Step")
	if KSR.is_REGISTER() and step == nil then
		local flags = tonumber(KSR.hdr.get("X-Flags") or "0")
		local table = KSR.hdr.get("X-Table") or "location"
		local rcv = KSR.hdr.get("X-Received")
		if rcv then KSR.pv.sets("$avp(RECEIVED)", rcv) end
		local bf = KSR.hdr.get("X-BFlag")
		if bf then KSR.setbflag(tonumber(bf)) end
		local q = KSR.hdr.get("X-QOverride")
		if q then KSR.registrar.set_q_override(q) end
		if KSR.tm and KSR.hdr.is_present("X-Stateful") > 0 then KSR.tm.t_newtran() end
		if KSR.hdr.is_present("X-Deferred") > 0 then
			local rc = KSR.registrar.save(table, flags)
			KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
			KSR.registrar.reg_send_reply()
		else
			local rc = KSR.registrar.save(table, flags)
			if rc < 0 and KSR.sl.sl_reply_error() ~= -2 then
				KSR.err("a second reply was sent")
			end
		end
		return
	end
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

function ksr_registrar_event(ev)
	KSR.info("EXPIRED " .. ev .. " " .. KSR.pv.getw("$ulc(exp=>aor)") .. " " .. KSR.pv.getw("$ulc(exp=>addr)") ..
		" " .. KSR.pv.getw("$ulc(exp=>domain)") .. " " .. KSR.pv.getw("$ulc(exp=>count)"))
end
`

// node is one luasbc with sl, tm, usrloc and registrar.
type node struct {
	h *kemitest.Harness
}

// startNode runs steps (Lua functions) with the given registrar and usrloc
// parameters. tm is loaded only when a step relays: every tm instance sets
// sl's package-level Stateful hook, which races with a running node's
// workers when a test starts a second node.
func startNode(t *testing.T, steps string, reg, ul map[string]any) *node {
	t.Helper()
	base := map[string]any{"min_expires": 1, "received_avp": "$avp(RECEIVED)", "event_callback": "ksr_registrar_event"}
	for k, v := range reg {
		base[k] = v
	}
	ulp := map[string]any{"timer_interval": 1}
	for k, v := range ul {
		ulp[k] = v
	}
	mods := map[string]map[string]any{"sl": nil, "usrloc": ulp, "registrar": base, "regtest": nil}
	if strings.Contains(steps, "KSR.tm.") {
		mods["tm"] = nil
	}
	if strings.Contains(steps, "KSR.corex.") {
		mods["corex"] = nil
	}
	h := kemitest.New(t, scriptFrame+steps, kemitest.Options{Modules: mods,
		Extra: "lua: {load: script.lua, workers: 2, timeout_ms: 2000}"})
	return &node{h: h}
}

var seq atomic.Int64

// register sends a REGISTER for user with the given Contact values (each
// one header) and extra header lines, and returns the reply.
func (n *node) register(t *testing.T, user, callID string, cseq int, contacts []string, extra ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:127.0.0.1:{sport} SIP/2.0\n")
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-r%d;rport\n", seq.Add(1))
	fmt.Fprintf(&b, "From: <sip:%s@example.com>;tag=f%d\n", user, seq.Add(1))
	fmt.Fprintf(&b, "To: <sip:%s@example.com>\n", user)
	fmt.Fprintf(&b, "Call-ID: %s\nCSeq: %d REGISTER\nMax-Forwards: 70\n", callID, cseq)
	for _, c := range contacts {
		b.WriteString("Contact: " + c + "\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	n.h.Send(b.String())
	rep := n.h.Recv(3 * time.Second)
	if rep == "" {
		t.Fatalf("REGISTER %s: no reply", user)
	}
	return rep
}

// request sends a request running step and returns its results.
func (n *node) request(t *testing.T, method, ruri, step string, extra ...string) []string {
	t.Helper()
	req := kemitest.Request(method, ruri, append([]string{"X-Step: " + step, fmt.Sprintf("X-Seq: %d", seq.Add(1))}, extra...)...)
	n.h.Send(req)
	rep := n.h.Recv(3 * time.Second)
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
func (n *node) expect(t *testing.T, method, ruri, step string, want ...string) {
	t.Helper()
	got := n.request(t, method, ruri, step)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("step %s:\n got  %q\n want %q", step, got, want)
	}
}

// rpc calls a method and returns its result as a client sees it.
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
	b, _ := json.Marshal(res)
	var out any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

// header returns the first value of a header in a message text.
func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func code(rep string) int { return kemitest.StatusCode(rep) }

// expiresOf reads the expires parameter of the contact uri in a 200 OK.
func expiresOf(t *testing.T, rep, uri string) int {
	t.Helper()
	for _, c := range strings.Split(header(rep, "Contact"), ", ") {
		if strings.HasPrefix(c, "<"+uri+">") {
			for _, p := range strings.Split(c, ";") {
				if v, ok := strings.CutPrefix(p, "expires="); ok {
					n, _ := strconv.Atoi(v)
					return n
				}
			}
		}
	}
	t.Fatalf("no expires for %s in %q", uri, header(rep, "Contact"))
	return 0
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
