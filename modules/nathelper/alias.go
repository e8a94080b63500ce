package nathelper

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// alias is the address a Contact alias parameter carries:
// ";alias=ip~port~proto", where proto is Kamailio's transport number
// (1 udp, 2 tcp, 3 tls, 4 sctp, 5 ws, 6 wss) and an IPv6 address is
// bracketed.
type alias struct {
	ip    netip.Addr
	port  int
	proto msg.Proto
}

func (a alias) String() string {
	return hostText(a.ip) + "~" + strconv.Itoa(a.port) + "~" + strconv.Itoa(int(a.proto))
}

// parseAlias reads an alias value. Everything in it ends up in $du, so it
// is checked as strictly as the script would check a R-URI: an IP literal,
// a port of 1-65535 and a known transport number.
func parseAlias(v string) (alias, error) {
	parts := strings.Split(v, "~")
	if len(parts) != 3 {
		return alias{}, errors.New("alias is not ip~port~proto")
	}
	ip, ok := parseHostIP(parts[0])
	if !ok || parts[0] != strings.TrimSpace(parts[0]) {
		return alias{}, errors.New("alias address is not an IP address")
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil || port < 1 || port > 65535 || !isDigits(parts[1]) {
		return alias{}, errors.New("alias port is not 1-65535")
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil || !isDigits(parts[2]) || p < int(msg.UDP) || p > int(msg.WSS) {
		return alias{}, errors.New("alias transport is not 1-6")
	}
	return alias{ip: ip, port: port, proto: msg.Proto(p)}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// transportParam is what a URI built from an address carries for proto:
// nothing for UDP, ";transport=ws" for both WebSocket flavours.
func transportParam(p msg.Proto) string {
	switch p {
	case msg.UDP, msg.ProtoNone:
		return ""
	case msg.WSS:
		return ";transport=ws"
	}
	return ";transport=" + p.String()
}

// uri is the SIP URI an alias (or a source address) designates, as
// handle_ruri_alias sets it into $du and fix_nated_register stores it.
func (a alias) uri() string {
	return "sip:" + hostText(a.ip) + ":" + strconv.Itoa(a.port) + transportParam(a.proto)
}

// sourceAlias is the alias of the address a message came from.
func sourceAlias(m *msg.Msg) alias {
	return alias{ip: m.Src.Addr().Unmap(), port: int(m.Src.Port()), proto: m.Proto}
}

// uriProto is the transport a URI asks for: its transport parameter, else
// UDP (TLS for sips).
func uriProto(u sipURI) msg.Proto {
	if t := u.transport(); t != "" {
		p, ok := msg.ParseProto(t)
		if !ok {
			return msg.ProtoNone
		}
		return p
	}
	if strings.EqualFold(u.scheme, "sips") {
		return msg.TLS
	}
	return msg.UDP
}

// matchesSource reports whether a Contact URI already names the address the
// message came from (host as IP, port with 5060 as default, transport), so
// that add_contact_alias() has nothing to add.
func matchesSource(u sipURI, m *msg.Msg) bool {
	ip, ok := parseHostIP(u.host)
	if !ok || ip != m.Src.Addr().Unmap() {
		return false
	}
	port := u.portNum()
	if port == 0 {
		port = 5060
	}
	if port != int(m.Src.Port()) {
		return false
	}
	p := uriProto(u)
	return p == m.Proto || p == msg.WS && m.Proto == msg.WSS
}

// protoByName reads the transport argument of add_contact_alias_addr.
func protoByName(s string) (msg.Proto, bool) {
	p, ok := msg.ParseProto(strings.TrimSpace(s))
	return p, ok && p != msg.ProtoNone
}
