package nathelper

import (
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// nat_uac_test flags.
const (
	testContactPrivate = 1 << iota // Contact host is a private address
	testViaReceived                // top Via host is not the source IP
	testViaPrivate                 // top Via host is a private address
	testSDPPrivate                 // an SDP c= address is private
	testViaPort                    // source port is not the top Via port
	testSrcPrivate                 // source IP is private
	testWebSocket                  // received over WebSocket
	testContactPort                // Contact port is not the source port
	testSDPSource                  // an SDP c= address is not the source IP
	testTarget                     // $du vs R-URI, or the second Via of a reply
)

func (x *nathelper) natUACTest(c *kemi.Ctx, flags int) int {
	return rc(natUACTest(c.M, flags, x.extraNets))
}

// natUACTest runs the selected tests on m; true as soon as one says NAT.
func natUACTest(m *msg.Msg, flags int, extra bool) bool {
	src := m.Src.Addr().Unmap()
	via := m.TopVia()
	if flags&testViaReceived != 0 && via != nil {
		if ip, ok := parseHostIP(via.Host); !ok || ip != src {
			return true
		}
	}
	if flags&testViaPort != 0 && via != nil {
		port := via.Port
		if port == 0 {
			port = 5060
		}
		if port != int(m.Src.Port()) {
			return true
		}
	}
	if flags&testViaPrivate != 0 && via != nil && isPrivateHost(via.Host, extra) {
		return true
	}
	if flags&testSrcPrivate != 0 && isPrivate(src, extra) {
		return true
	}
	if flags&testWebSocket != 0 && (m.Proto == msg.WS || m.Proto == msg.WSS) {
		return true
	}
	if flags&(testContactPrivate|testContactPort) != 0 {
		if u, ok := firstContactURI(m); ok {
			if flags&testContactPrivate != 0 && isPrivateHost(u.host, extra) {
				return true
			}
			port := u.portNum()
			if port == 0 {
				port = 5060
			}
			if flags&testContactPort != 0 && port != int(m.Src.Port()) {
				return true
			}
		}
	}
	if flags&(testSDPPrivate|testSDPSource) != 0 {
		for _, sdp := range receivedSDP(m) {
			for _, a := range sdpConnAddrs(sdp) {
				ip, ok := parseHostIP(a)
				if !ok || ip.IsUnspecified() {
					continue // a name, or hold: says nothing about a NAT
				}
				if flags&testSDPPrivate != 0 && isPrivate(ip, extra) {
					return true
				}
				if flags&testSDPSource != 0 && ip != src {
					return true
				}
			}
		}
	}
	if flags&testTarget != 0 && targetDiffers(m) {
		return true
	}
	return false
}

// targetDiffers is test 512. A request: $du is set and names another
// host:port than the R-URI, or a WebSocket transport. A reply: its second
// Via (the hop it goes back to) was reached at another address than it
// advertised (received / rport), or over WebSocket.
func targetDiffers(m *msg.Msg) bool {
	if m.Req != nil {
		if m.DstURI == "" {
			return false
		}
		du, ok1 := parseSIPURI(m.DstURI)
		ru, ok2 := parseSIPURI(m.RURIString())
		if !ok1 || !ok2 {
			return false
		}
		if p := uriProto(du); p == msg.WS || p == msg.WSS {
			return true
		}
		return !sameHost(du.host, ru.host) || defPort(du.portNum()) != defPort(ru.portNum())
	}
	v2, ok := m.SecondVia()
	if !ok {
		return false
	}
	vh, ok := parseVia(v2)
	if !ok {
		return false
	}
	if p, ok := msg.ParseProto(vh.Transport); ok && (p == msg.WS || p == msg.WSS) {
		return true
	}
	if r, ok := vh.Params.Get("received"); ok && r != "" && !sameHost(r, vh.Host) {
		return true
	}
	if r, ok := vh.Params.Get("rport"); ok && r != "" {
		if n, err := strconv.Atoi(r); err != nil || n != defPort(vh.Port) {
			return true
		}
	}
	return false
}

// parseVia parses one Via value.
func parseVia(v string) (*sip.ViaHeader, bool) {
	hs, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte("Via: "+v))
	if err != nil || len(hs) == 0 {
		return nil, false
	}
	vh, ok := hs[0].(*sip.ViaHeader)
	return vh, ok
}

func defPort(p int) int {
	if p == 0 {
		return 5060
	}
	return p
}
