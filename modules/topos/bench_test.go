package topos

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/backend/backendtest"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
	"github.com/luasbc/luasbc/modules/topoh/thtest"
)

// The benchmarks run the filters on the messages of one call as the core
// hands them over: INVITE sent, 180 and 200 received and relayed, ACK and
// BYE received and sent, the BYE's 200 received and relayed — 13 filter
// runs per call. The core's own work (parsing, Lua, tm) is not in them: this
// is what topos adds to a call.

var benchSrc = netip.MustParseAddrPort("192.0.2.20:5060")

// forwarded is a received in-dialog request as the core forwards it after
// loose_route: our Via on top, our Route gone.
func forwarded(req string, branch string) string {
	out := thtest.Forwarded(req, branch)
	if i := strings.Index(out, "Route: <sip:192.0.2.1:5060;lr"); i >= 0 {
		j := strings.Index(out[i:], "\r\n")
		out = out[:i] + out[i+j+2:]
	}
	return out
}

// oneCall runs the filters on the messages of call i; false if any step
// failed.
func oneCall(x *Topos, i int) bool {
	o := &core.Outgoing{Data: []byte(thtest.CallInvite(i, ""))}
	if !x.sending(o) {
		return false
	}
	inv := string(o.Data)
	for _, code := range []int{180, 200} {
		p := &transport.Packet{Data: []byte(thtest.ReplyTo(inv, code, "sip:bob@10.0.0.2:5060")), Src: benchSrc}
		if !x.received(p) {
			return false
		}
		o = &core.Outgoing{Data: []byte(thtest.Relayed(string(p.Data))), Reply: true}
		if !x.sending(o) {
			return false
		}
	}
	ok := string(o.Data)
	m, _ := sipraw.ParseString(ok)
	target := sipraw.URIOf(firstItem(m, msg.HContact))
	n := strconv.Itoa(i)
	for k, method := range []string{"ACK", "BYE"} {
		req := method + " " + target + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK" + method + n + "\r\n" +
			"From: \"Alice\" <sip:alice@example.com>;tag=ft" + n + "\r\nTo: <sip:bob@example.com>;tag=bt\r\n" +
			"Call-ID: call-" + n + "@198.51.100.7\r\nCSeq: " + strconv.Itoa(1+k) + " " + method + "\r\n" +
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		p := &transport.Packet{Data: []byte(req), Src: benchSrc}
		if !x.received(p) || !strings.HasPrefix(string(p.Data), method+" sip:bob@10.0.0.2") {
			return false
		}
		o = &core.Outgoing{Data: []byte(forwarded(string(p.Data), "z9hG4bKtm"+n+"y."+method))}
		if !x.sending(o) {
			return false
		}
	}
	p := &transport.Packet{Data: []byte(thtest.ReplyTo(string(o.Data), 200, "")), Src: benchSrc}
	if !x.received(p) {
		return false
	}
	o = &core.Outgoing{Data: []byte(thtest.Relayed(string(p.Data))), Reply: true}
	return x.sending(o)
}

func TestBenchCallFlow(t *testing.T) {
	x := bare(t)
	for i := 0; i < 3; i++ {
		if !oneCall(x, i) {
			t.Fatalf("call %d failed", i)
		}
	}
	if x.st.restoredReq.Value() != 6 || x.st.restoredRpl.Value() != 9 {
		t.Errorf("restored %d requests, %d replies", x.st.restoredReq.Value(), x.st.restoredRpl.Value())
	}
}

func benchCalls(b *testing.B, x *Topos) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !oneCall(x, i) {
			b.Fatalf("call %d failed", i)
		}
	}
}

// BenchmarkCallMemory is topos's cost per call with the memory storage.
func BenchmarkCallMemory(b *testing.B) { benchCalls(b, bare(b)) }

// BenchmarkCallRedis is topos's cost per call with Redis (local server), as
// the module sets it up: branches this node wrote come from memory, so 6 of
// the 9 store operations of a call go to Redis.
func BenchmarkCallRedis(b *testing.B) {
	rc := backendtest.Redis(b)
	prefix := "bench:topos:" + backendtest.Suffix() + ":"
	b.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			rc.Del(context.Background(), keys[:n]...)
			keys = keys[n:]
		}
	})
	x := bare(b)
	rs, err := newRedisStore(backendtest.RedisURL(), prefix, time.Second, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	rs.start()
	cs := newCachedStore(rs, time.Minute)
	b.Cleanup(cs.Close)
	x.store = cs
	benchCalls(b, x)
}

// BenchmarkParseOnly is the floor: indexing the same 13 messages without
// touching them.
func BenchmarkParseOnly(b *testing.B) {
	x := bare(b)
	var msgs [][]byte
	o := &core.Outgoing{Data: []byte(thtest.CallInvite(0, ""))}
	x.sending(o)
	for k := 0; k < 13; k++ {
		msgs = append(msgs, o.Data)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, m := range msgs {
			if _, err := sipraw.Parse(m); err != nil {
				b.Fatal(err)
			}
		}
	}
}
