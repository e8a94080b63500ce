package kemitest_test

import (
	"net/netip"
	"os"
	"testing"

	"github.com/luasbc/luasbc/core/transport"
	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/all"
)

// BenchmarkDefaultKeepalive runs an OPTIONS keepalive through the shipped
// lua/default.lua on one goroutine: parse, REQINIT (scanner check, maxfwd,
// sanity is skipped by the keepalive exit), 200 built and sent over UDP.
func BenchmarkDefaultKeepalive(b *testing.B) {
	script, err := os.ReadFile("../../lua/default.lua")
	if err != nil {
		b.Fatal(err)
	}
	h := kemitest.New(b, string(script), kemitest.Options{Modules: map[string]map[string]any{
		"sl": nil, "maxfwd": nil, "sanity": nil, "siputils": nil, "textops": nil, "kx": nil, "xlog": nil, "corex": nil}})
	raw := []byte(h.Expand(kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}")))
	src := netip.MustParseAddrPort(h.Client.LocalAddr().String())
	sock := h.Core.TP.Sockets[0]
	// Drain replies so the client socket buffer never fills.
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := h.Client.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Core.HandlePacket(transport.Packet{Data: raw, Src: src, Sock: sock})
	}
}
