// Package nathelper helps signalling cross NATs (Kamailio's nathelper module,
// KEMI functions KSR.nathelper.*): tests that guess whether a user agent is
// behind a NAT, Contact rewriting with the source address (directly, or as
// an ;alias parameter that handle_ruri_alias turns into $du later), the
// received URI for the registrar, SDP address rewriting, and keepalives —
// SIP OPTIONS or empty UDP packets — sent to registered contacts so their
// NAT bindings stay open.
package nathelper

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "nathelper",
		Doc:  "NAT traversal helpers for signalling: NAT detection, Contact and SDP rewriting, Contact aliases, the registrar's received URI, and NAT keepalives to registered contacts.",
		Params: []kemi.ParamDef{
			{Name: "natping_interval", Default: 0, Doc: "Seconds between two keepalives to each registered contact (0: no keepalives). Needs the usrloc module."},
			{Name: "ping_nated_only", Default: 0, Doc: "1: ping only contacts saved with usrloc's nat_bflag; 0: every contact."},
			{Name: "natping_processes", Default: 1, Doc: "Number of Kamailio timer processes for pinging: one goroutine sends every ping here.", Ignored: true},
			{Name: "natping_socket", Default: "", Doc: "Source address spoofed on raw-socket UDP pings: raw sockets are not used here.", Ignored: true},
			{Name: "force_socket", Default: "", Doc: "Local socket (\"udp:ip:port\" or \"ip:port\") the keepalives leave from; empty: the socket the contact registered through, else one chosen for the destination."},
			{Name: "received_avp", Default: "", Doc: "AVP (\"$avp(RECEIVED)\") where fix_nated_register() stores the source URI; set the same in registrar."},
			{Name: "sipping_bflag", Default: -1, Doc: "Branch flag of contacts pinged with a SIP request (sipping_method) instead of an empty UDP packet; -1: none."},
			{Name: "sipping_from", Default: "", Doc: "From URI of the SIP keepalive requests; SIP pinging is off while it is empty."},
			{Name: "sipping_method", Default: "OPTIONS", Doc: "Method of the SIP keepalive requests."},
			{Name: "natping_disable_bflag", Default: -1, Doc: "Branch flag of contacts that get no keepalive at all; -1: none."},
			{Name: "nortpproxy_str", Default: "a=nortpproxy:yes\r\n", Doc: "SDP line fix_nated_sdp flag 4 adds (a complete line with CRLF); empty: never added."},
			{Name: "keepalive_timeout", Default: 0, Doc: "Seconds without a reply to SIP keepalives after which a contact is removed from usrloc (0: never)."},
			{Name: "udpping_from_path", Default: 0, Doc: "Send UDP pings from the Path address over a raw socket: raw sockets are not used here.", Ignored: true},
			{Name: "append_sdp_oldmediaip", Default: 1, Doc: "1: fix_nated_sdp adds a=oldmediaip:<previous address> when it rewrites a c= line."},
			{Name: "filter_server_id", Default: 0, Doc: "Ping only contacts saved by this server_id: luasbc has no server_id; usrloc decides which contacts a node pings.", Ignored: true},
			{Name: "nat_addr_mode", Default: 1, Doc: "1: 192.0.0.0/24 (RFC 6890) counts as private too; 0: only 10/8, 172.16/12, 192.168/16, 100.64/10, 192.0.0.0/29 and fc00::/7."},
			{Name: "alias_name", Default: "alias", Doc: "Name of the Contact URI parameter written by add_contact_alias/set_contact_alias and read by handle_ruri_alias/set_alias_to_pv."},
		},
		New: newNathelper,
	})
}

// nathelper is a configured module instance.
type nathelper struct {
	env *kemi.Env
	log *zap.Logger

	extraNets   bool   // nat_addr_mode 1
	aliasName   string // alias_name
	receivedAVP string // received_avp
	nortpproxy  string // nortpproxy_str
	oldMediaIP  bool   // append_sdp_oldmediaip

	ping pingConfig
	// pinger runs the keepalives; nil when natping_interval is 0.
	pinger  *pinger
	enabled atomic.Bool // nathelper.enable_ping

	st struct {
		pings, sipPings, replies, expired *stats.Counter
	}
}

func newNathelper(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	x := &nathelper{env: env, log: env.Log,
		extraNets:   p.Int("nat_addr_mode") != 0,
		aliasName:   strings.TrimSpace(p.Str("alias_name")),
		receivedAVP: strings.TrimSpace(p.Str("received_avp")),
		nortpproxy:  p.Str("nortpproxy_str"),
		oldMediaIP:  p.Bool("append_sdp_oldmediaip"),
	}
	if m := p.Int("nat_addr_mode"); m != 0 && m != 1 {
		return nil, fmt.Errorf("nat_addr_mode %d: want 0 or 1", m)
	}
	if !msg.IsToken(x.aliasName) || strings.ContainsAny(x.aliasName, "~") {
		return nil, fmt.Errorf("alias_name %q is not a URI parameter name", x.aliasName)
	}
	if x.nortpproxy != "" {
		if !strings.HasSuffix(x.nortpproxy, "\r\n") {
			x.nortpproxy += "\r\n"
		}
		if line := strings.TrimSuffix(x.nortpproxy, "\r\n"); strings.ContainsAny(line, "\r\n\x00") || len(line) < 3 || line[1] != '=' {
			return nil, fmt.Errorf("nortpproxy_str %q is not one SDP line (\"x=...\" with CRLF)", p.Str("nortpproxy_str"))
		}
	}
	if x.receivedAVP != "" && env.Engine != nil {
		spec, err := env.Engine.ParsePV(x.receivedAVP)
		if err != nil {
			return nil, fmt.Errorf("received_avp: %w", err)
		}
		if spec.Class.Name != "avp" {
			return nil, fmt.Errorf("received_avp: %s is not an AVP", x.receivedAVP)
		}
	}
	pc, err := readPingConfig(p)
	if err != nil {
		return nil, err
	}
	x.ping = pc
	x.enabled.Store(pc.interval > 0)
	s := &x.st
	s.pings = stats.New("nathelper", "keepalives_sent", "NAT keepalives sent (SIP requests and empty UDP packets)")
	s.sipPings = stats.New("nathelper", "sip_keepalives_sent", "SIP keepalive requests sent")
	s.replies = stats.New("nathelper", "keepalive_replies", "replies to SIP keepalives absorbed")
	s.expired = stats.New("nathelper", "keepalive_timeouts", "contacts reported to usrloc for not answering keepalives")
	if env.Core != nil && pc.interval > 0 {
		x.pinger = newPinger(x)
		// Replies to our keepalives end here: they are ours and go nowhere.
		env.Core.ReplyHandlers = append(env.Core.ReplyHandlers, x.pinger.onReply)
	}
	return x, nil
}

// Start binds to usrloc for the keepalives and starts them.
func (x *nathelper) Start() error {
	if x.pinger == nil {
		return nil
	}
	return x.pinger.start()
}

// Stop ends the keepalives.
func (x *nathelper) Stop() {
	if x.pinger != nil {
		x.pinger.stop()
	}
}

// Exports implements kemi.Instance.
func (x *nathelper) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnIntInt("nat_uac_test", "Guess whether the sender is behind a NAT; flags select the tests: 1 Contact host private, 2 top Via host differs from the source IP, 4 top Via host private, 8 SDP c= address private, 16 source port differs from the Via port, 32 source IP private, 64 received over WebSocket, 128 Contact port differs from the source port, 256 SDP c= address differs from the source IP, 512 $du differs from the R-URI host:port (requests) or the second Via has received/rport that differ (replies). 1 if any selected test says NAT, -1 otherwise.",
			x.natUACTest),
		kemi.FnStrInt("is_rfc1918", "1 if the address is private (10/8, 172.16/12, 192.168/16, 100.64/10, 192.0.0.0/29, fc00::/7; 192.0.0.0/24 with nat_addr_mode 1), -1 otherwise.",
			func(_ *kemi.Ctx, s string) int { return rc(isPrivateHost(s, x.extraNets)) }),
		kemi.Fn0Int("fix_nated_contact", "Rewrite the host:port of the first Contact URI with the source IP:port (a maddr parameter is removed). 1 ok, -1 no Contact, a malformed one or already rewritten.",
			x.fixNatedContact),
		kemi.Fn0Int("fix_nated_register", "Store the source as \"sip:ip:port[;transport=x]\" into received_avp, for registrar to save as the contact's received address. 1 (also when received_avp is not set), -1 error.",
			x.fixNatedRegister),
		kemi.FnIntInt("add_rcv_param", "Add ;received=\"sip:ip:port[;transport=x]\" with the source to every Contact as a header parameter (flag 0) or, for UDP only, ;received=sip:ip:port to the Contact URI (flag != 0). 1 ok, -1 error.",
			x.addRcvParam),
		kemi.Fn0Int("add_contact_alias", "Add ;alias=ip~port~proto with the source address to the first Contact URI, unless it already names that address. 1 added, 2 no Contact or nothing to add, -1 error.",
			func(c *kemi.Ctx) int { return x.addContactAlias(c, nil) }),
		kemi.FnStrStrStrInt("add_contact_alias_addr", "Add ;alias=ip~port~proto with the given address, port and transport name (udp, tcp, tls, sctp, ws, wss) to the first Contact URI. 1 added, 2 no Contact, -1 error.",
			x.addContactAliasAddr),
		kemi.Fn0Int("set_contact_alias", "Add ;alias=ip~port~proto with the source address to the first Contact URI (the change goes out with the message; $ct still reads the received value). 1 ok, -1 no Contact or error.",
			func(c *kemi.Ctx) int { return x.setContactAlias(c, false) }),
		kemi.Fn0Int("set_contact_alias_trim", "As set_contact_alias, removing any alias parameter the Contact URI already has first.",
			func(c *kemi.Ctx) int { return x.setContactAlias(c, true) }),
		kemi.Fn0Int("handle_ruri_alias", "If the R-URI has an alias parameter: remove it (the first) and set $du to sip:ip:port[;transport=x] from its value. 1 done, 2 no alias, -1 error.",
			func(c *kemi.Ctx) int { return x.handleRURIAlias(c, 0) }),
		kemi.FnIntInt("handle_ruri_alias_mode", "As handle_ruri_alias; mode 0 consumes the first alias parameter, any other value the last.",
			x.handleRURIAlias),
		kemi.FnStrInt("set_alias_to_pv", "Write the alias of the first Contact URI as sip:ip:port[;transport=x] into the given PV. 1 ok, -1 no Contact, no alias or error.",
			x.setAliasToPV),
		kemi.FnIntInt("fix_nated_sdp", "Rewrite the SDP: flags 1 add a=direction:active, 2 c= (and a=rtcp) addresses to the source IP, 4 add nortpproxy_str, 8 o= address to the source IP. 1 changed, 2 nothing to change, -1 error (no SDP, no c=/o= line to rewrite).",
			func(c *kemi.Ctx, f int) int { return x.fixNatedSDP(c, f, "") }),
		kemi.FnIntStrInt("fix_nated_sdp_ip", "As fix_nated_sdp with the given IP address instead of the source IP.",
			x.fixNatedSDP),
	}
}

func rc(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

// logFail logs why a function returned -1 and returns -1.
func logFail(c *kemi.Ctx, fn string, err error) int {
	c.Logger().Error("nathelper function failed", zap.String("function", "nathelper."+fn), zap.Error(err))
	return -1
}

var errNotRequest = errors.New("not a request")
