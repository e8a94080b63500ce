package e2e

// Media anchoring with a real rtpengine (Debian's rtpengine-daemon, userspace
// mode on loopback) and SIPp caller and callee sending RTP from a pcap:
// lua/examples/nat-media/script.lua on bin/sbc rewrites the SDP to rtpengine's
// address and ports, media flows through rtpengine (its own packet counters,
// read with the ng "query" command), the session is deleted at BYE, and a
// call survives the loss of one of two rtpengine instances.
//
//	go test ./test/e2e/ -run 'TestMedia' -v

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mediaModules: the modules nat-media/script.lua uses, plus rtpengine.
var mediaModules = []string{"sl: {}", "tm: {fr_timer: 5000, fr_inv_timer: 20000}", "tmx: {}", "rr: {}",
	"maxfwd: {max_limit: 70}", "sanity: {}", "siputils: {}", "textops: {}", "kx: {}", "xlog: {}"}

// rtpEngine is one rtpengine process on loopback.
type rtpEngine struct {
	NG               int // ng control port
	PortMin, PortMax int
	cmd              *exec.Cmd
	logs             *logBuf
	exited           chan struct{}
}

func (r *rtpEngine) URL() string { return "udp:127.0.0.1:" + strconv.Itoa(r.NG) }

func mediaEnabled(t *testing.T) {
	t.Helper()
	callsEnabled(t)
	if _, err := exec.LookPath("rtpengine"); err != nil {
		t.Fatalf("rtpengine not installed: run `make deps` (Debian package rtpengine-daemon)")
	}
	if _, err := os.Stat("/usr/share/sip-tester/g711a.pcap"); err != nil {
		t.Fatalf("SIPp's g711a.pcap is missing (Debian package sip-tester): %v", err)
	}
}

// startRtpengine runs rtpengine in the foreground, userspace forwarding
// (--table=-1), its own media port range, sessions deleted at once on
// "delete" (--delete-delay=0), no config file.
func startRtpengine(t *testing.T) *rtpEngine {
	t.Helper()
	ng := freePorts(t, 1)
	media := freePorts(t, 40)
	r := &rtpEngine{NG: ng, PortMin: media, PortMax: media + 39, logs: &logBuf{}, exited: make(chan struct{})}
	r.cmd = exec.Command("rtpengine", "--config-file=none", "--interface=127.0.0.1",
		"--listen-ng=127.0.0.1:"+strconv.Itoa(ng), "--foreground", "--log-stderr", "--table=-1",
		"--port-min="+strconv.Itoa(r.PortMin), "--port-max="+strconv.Itoa(r.PortMax), "--delete-delay=0",
		"--timeout=60", "--log-level=6")
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start rtpengine: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.exited
		}
		if t.Failed() {
			t.Logf("rtpengine %d output (tail):\n%s", r.NG, tail(r.logs.String(), 3000))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if res, err := r.ng(map[string]any{"command": "ping"}); err == nil && res["result"] == "pong" {
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("rtpengine exited at start:\n%s", tail(r.logs.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rtpengine not answering ng ping after 10s:\n%s", tail(r.logs.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process at once (SIGKILL): an instance that stops answering.
func (r *rtpEngine) kill(t *testing.T) {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("rtpengine did not die")
	}
}

// ng sends one ng command and decodes the reply.
func (r *rtpEngine) ng(cmd map[string]any) (map[string]any, error) {
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(r.NG))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cookie := fmt.Sprintf("t%d", time.Now().UnixNano())
	if _, err := c.Write(append([]byte(cookie+" "), benc(cmd)...)); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1<<16)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	rest, ok := bytes.CutPrefix(buf[:n], []byte(cookie+" "))
	if !ok {
		return nil, fmt.Errorf("reply without our cookie: %q", buf[:min(n, 80)])
	}
	v, _, err := bdec(rest)
	if err != nil {
		return nil, err
	}
	d, _ := v.(map[string]any)
	return d, nil
}

// benc bencodes strings, ints, lists and dictionaries (test-side client).
func benc(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(strconv.Itoa(len(x)) + ":" + x)
	case int:
		return []byte("i" + strconv.Itoa(x) + "e")
	case []any:
		b := []byte("l")
		for _, e := range x {
			b = append(b, benc(e)...)
		}
		return append(b, 'e')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b := []byte("d")
		for _, k := range keys {
			b = append(append(b, benc(k)...), benc(x[k])...)
		}
		return append(b, 'e')
	}
	panic(fmt.Sprintf("benc %T", v))
}

// bdec decodes one bencoded value from the start of b.
func bdec(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("bencode: unexpected end")
	}
	switch {
	case b[0] == 'i':
		e := bytes.IndexByte(b, 'e')
		if e < 0 {
			return nil, nil, fmt.Errorf("bencode: unterminated integer")
		}
		n, err := strconv.ParseInt(string(b[1:e]), 10, 64)
		return n, b[e+1:], err
	case b[0] == 'l' || b[0] == 'd':
		isDict := b[0] == 'd'
		rest := b[1:]
		var list []any
		dict := map[string]any{}
		for {
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("bencode: unterminated container")
			}
			if rest[0] == 'e' {
				if isDict {
					return dict, rest[1:], nil
				}
				return list, rest[1:], nil
			}
			var k, v any
			var err error
			if isDict {
				if k, rest, err = bdec(rest); err != nil {
					return nil, nil, err
				}
			}
			if v, rest, err = bdec(rest); err != nil {
				return nil, nil, err
			}
			if isDict {
				ks, _ := k.(string)
				dict[ks] = v
			} else {
				list = append(list, v)
			}
		}
	default:
		c := bytes.IndexByte(b, ':')
		if c < 0 {
			return nil, nil, fmt.Errorf("bencode: bad string")
		}
		n, err := strconv.Atoi(string(b[:c]))
		if err != nil || c+1+n > len(b) {
			return nil, nil, fmt.Errorf("bencode: bad string length")
		}
		return string(b[c+1 : c+1+n]), b[c+1+n:], nil
	}
}

// legPackets returns, per call party (tag), the RTP packets rtpengine
// received from it.
func legPackets(q map[string]any) map[string]int64 {
	out := map[string]int64{}
	tags, _ := q["tags"].(map[string]any)
	for tag, tv := range tags {
		td, _ := tv.(map[string]any)
		medias, _ := td["medias"].([]any)
		for _, m := range medias {
			md, _ := m.(map[string]any)
			streams, _ := md["streams"].([]any)
			for _, s := range streams {
				sd, _ := s.(map[string]any)
				st, _ := sd["stats"].(map[string]any)
				if p, ok := st["packets"].(int64); ok {
					out[tag] += p
				}
			}
		}
	}
	return out
}

var mAudio = regexp.MustCompile(`(?m)^m=audio (\d+) `)
var cLine = regexp.MustCompile(`(?m)^c=IN IP4 (\S+)`)

// receivedSDPPort is the m=audio port of the first message starting with
// first that the agent received.
func (a *sippAgent) receivedSDPPort(t *testing.T, first string) (int, string) {
	t.Helper()
	b, _ := os.ReadFile(a.file(".msg"))
	text := strings.ReplaceAll(string(b), "\r", "")
	for _, part := range strings.Split(text, "message received")[1:] {
		body := strings.TrimLeft(part[strings.IndexByte(part, '\n')+1:], "\n")
		if !strings.HasPrefix(body, first) {
			continue
		}
		m := mAudio.FindStringSubmatch(body)
		c := cLine.FindStringSubmatch(body)
		if m == nil || c == nil {
			continue
		}
		p, _ := strconv.Atoi(m[1])
		return p, c[1]
	}
	t.Fatalf("sipp %s received no %q with SDP:\n%s", a.Name, first, a.ladder())
	return 0, ""
}

// mediaCall runs one call caller -> sbc -> callee with RTP both ways and
// returns the agents; the call's Call-ID is cid. During the call it waits
// until rtpengine (one of engines) has counted RTP from both parties.
func mediaCall(t *testing.T, s *Server, calleePort int, cid string, engines ...*rtpEngine) (caller, callee *sippAgent, used *rtpEngine) {
	t.Helper()
	callee = startSIPp(t, "callee", filepath.Join("..", "media", "uas_media.xml"), calleePort, "", "-mi", "127.0.0.1")
	callee.waitBound(t)
	caller = startSIPp(t, "caller", filepath.Join("..", "media", "uac_media.xml"), freePorts(t, 6), s.Addr,
		"-s", "bob", "-cid_str", cid, "-mi", "127.0.0.1")
	deadline := time.Now().Add(8 * time.Second)
	var last map[string]int64
	for used == nil && time.Now().Before(deadline) {
		for _, e := range engines {
			q, err := e.ng(map[string]any{"command": "query", "call-id": cid})
			if err != nil || q["result"] != "ok" {
				continue
			}
			last = legPackets(q)
			if len(last) == 2 {
				both := true
				for _, n := range last {
					both = both && n >= 20
				}
				if both {
					used = e
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, a := range []*sippAgent{caller, callee} {
		code, ok := a.wait(sippTimeout + 10*time.Second)
		if !ok || code != 0 {
			t.Errorf("sipp %s: exit %d (finished %v)", a.Name, code, ok)
		}
	}
	if t.Failed() || used == nil {
		t.Logf("%s\n%s", caller.report(), callee.report())
		t.Logf("sbc output (tail):\n%s", tail(s.Logs(), 4000))
		t.Fatalf("no RTP counted by rtpengine from both parties during the call (last: %v)", last)
	}
	return caller, callee, used
}

func startMediaServer(t *testing.T, calleePort int, rtpengine string) *Server {
	t.Helper()
	mods := append(append([]string{}, mediaModules...), "rtpengine: "+rtpengine)
	return StartServer(t, Opts{
		Script:    filepath.Join(repoRoot, "lua", "examples", "nat-media", "script.lua"),
		Replace:   map[string]string{`"sip:127.0.0.1:5080"`: fmt.Sprintf(`"sip:127.0.0.1:%d"`, calleePort)},
		Modules:   mods,
		TimeoutMS: 3000,
	})
}

// TestMediaAnchoredThroughRtpengine: the SDP each party gets names
// rtpengine, RTP flows through it both ways, and BYE deletes the session.
func TestMediaAnchoredThroughRtpengine(t *testing.T) {
	mediaEnabled(t)
	t.Parallel()
	e := startRtpengine(t)
	calleePort := freePorts(t, 6)
	s := startMediaServer(t, calleePort, fmt.Sprintf(`{rtpengine_sock: "%s", rtpengine_tout_ms: 300, rtpengine_retr: 2}`, e.URL()))
	cid := "media-" + strconv.FormatInt(time.Now().UnixNano(), 36) // SIPp's -cid_str: no % conversions
	caller, callee, _ := mediaCall(t, s, calleePort, cid, e)

	inPort, inIP := callee.receivedSDPPort(t, "INVITE ")
	okPort, okIP := caller.receivedSDPPort(t, "SIP/2.0 200")
	for name, p := range map[string]int{"INVITE to the callee": inPort, "200 to the caller": okPort} {
		if p < e.PortMin || p > e.PortMax {
			t.Errorf("%s: m=audio port %d is not rtpengine's (%d-%d)", name, p, e.PortMin, e.PortMax)
		}
	}
	if inIP != "127.0.0.1" || okIP != "127.0.0.1" || inPort == okPort {
		t.Errorf("SDP addresses %s:%d / %s:%d", inIP, inPort, okIP, okPort)
	}
	// Deleted at BYE (rtpengine runs with --delete-delay=0).
	q, err := e.ng(map[string]any{"command": "query", "call-id": cid})
	if err != nil || q["result"] != "error" {
		t.Errorf("after BYE rtpengine still knows the call: %v %v", q["result"], err)
	}
	if !strings.Contains(e.logs.String(), "delete") {
		t.Errorf("rtpengine never got a delete")
	}
}

// TestMediaFailoverBetweenInstances: with the preferred of two instances
// killed, the call is anchored by the other, and the dead one is shown
// disabled.
func TestMediaFailoverBetweenInstances(t *testing.T) {
	mediaEnabled(t)
	t.Parallel()
	a, b := startRtpengine(t), startRtpengine(t)
	calleePort := freePorts(t, 6)
	s := startMediaServer(t, calleePort, fmt.Sprintf(`{rtpengine_sock: "%s=100 %s=1", rtpengine_tout_ms: 300, rtpengine_retr: 2, rtpengine_disable_tout: 60}`,
		a.URL(), b.URL()))
	var before []map[string]any
	s.MustRPC(&before, "rtpengine.show", "all")
	if len(before) != 2 || before[0]["disabled"].(float64) != 0 || before[1]["disabled"].(float64) != 0 {
		t.Fatalf("rtpengine.show before: %v", before)
	}
	a.kill(t)
	cid := "failover-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, callee, used := mediaCall(t, s, calleePort, cid, b)
	if used != b {
		t.Fatalf("call not anchored by the surviving instance")
	}
	inPort, _ := callee.receivedSDPPort(t, "INVITE ")
	if inPort < b.PortMin || inPort > b.PortMax {
		t.Errorf("callee got port %d, not the surviving instance's (%d-%d)", inPort, b.PortMin, b.PortMax)
	}
	var after []map[string]any
	s.MustRPC(&after, "rtpengine.show", a.URL())
	if len(after) != 1 || after[0]["disabled"].(float64) != 1 {
		raw, _ := json.Marshal(after)
		t.Errorf("dead instance not disabled: %s", raw)
	}
	if !s.WaitLog("rtpengine instance not answering", time.Second) {
		t.Error("no log line for the instance that stopped answering")
	}
	_ = context.Background
}
