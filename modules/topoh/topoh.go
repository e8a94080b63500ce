// Package topoh is Kamailio's topoh module: stateless topology hiding. On
// the way out the Via, Contact and Record-Route addresses of the side a
// message comes from are replaced by masked values (and the Call-ID, with
// mask_callid); on the way back they are restored from the masked values
// themselves. Nothing is stored, so calls survive a restart and every node
// that has the same mask_key decodes what any of them masked.
//
// Masking here is authenticated encryption (see codec.go), where Kamailio
// only obfuscates: a masked value that was changed or made up is refused.
package topoh

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/topoh/evcb"
)

// defaultMaskKey is Kamailio's documented default: a deployment that keeps
// it hides nothing from anyone who knows it, so start-up warns.
const defaultMaskKey = "_static_value_"

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "topoh",
		Doc: "Stateless topology hiding: Via, Contact, Record-Route (and Call-ID) of each side masked with " +
			"authenticated encryption under mask_key; any node with the same key restores them.",
		Params: []kemi.ParamDef{
			{Name: "mask_key", Default: defaultMaskKey, Doc: "Secret the masking keys are derived from (HKDF-SHA256); nodes that share it decode each other's values. Change it: the default is public."},
			{Name: "mask_ip", Default: "127.0.0.8", Doc: "Host written in masked Via and URIs; never used for routing. \"\" = the address of the socket the message leaves on."},
			{Name: "mask_callid", Default: 0, Doc: "1: mask the Call-ID towards the side that did not start the dialog."},
			{Name: "mask_mode", Default: 0, Doc: "Bitmask: 1 = leave the Contact of 3xx replies unmasked (redirect targets must stay usable)."},
			{Name: "uparam_name", Default: "line", Doc: "URI parameter holding a masked URI."},
			{Name: "uparam_prefix", Default: "sr-", Doc: "Prefix of the masked value in uparam_name."},
			{Name: "vparam_name", Default: "branch", Doc: "Via parameter holding a masked Via."},
			{Name: "vparam_prefix", Default: "z9hG4bKsr-", Doc: "Prefix of the masked value in vparam_name."},
			{Name: "callid_prefix", Default: "!!:", Doc: "Prefix of a masked Call-ID."},
			{Name: "sanity_checks", Default: 0, Doc: "1: received requests that fail the sanity module's default checks are passed on untouched (the script's own checks answer them)."},
			{Name: "uri_prefix_checks", Default: 0, Doc: "1: decode only URIs that start exactly as topoh writes them (sip:<mask_ip>;<uparam_name>=<uparam_prefix>)."},
			{Name: "event_callback", Default: "", Doc: "Lua function called with \"topoh:msg-outgoing\" and \"topoh:msg-sending\"; KSR.x.drop() in it sends that message without hiding."},
			{Name: "event_mode", Default: 3, Doc: "Bitmask of the events run: 1 msg-outgoing, 2 msg-sending."},
			{Name: "use_mode", Default: 0, Doc: "1: library only (for topos mask_callid): no masking of traffic."},
		},
		New: newTopoh,
	})
}

// Topoh is the configured module.
type Topoh struct {
	core     *core.Core
	log      *zap.Logger
	k        masker
	maskCID  bool
	maskMode int
	sanity   bool
	ev       *evcb.Runner

	stMasked, stUnmasked, stForged *stats.Counter
}

func newTopoh(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	t := &Topoh{core: env.Core, log: env.Log, maskCID: p.Bool("mask_callid"), maskMode: p.Int("mask_mode"),
		sanity: p.Bool("sanity_checks")}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	key := p.Str("mask_key")
	if key == "" {
		return nil, errors.New("mask_key: must not be empty")
	}
	c, err := newCodec(key)
	if err != nil {
		return nil, fmt.Errorf("mask_key: %w", err)
	}
	ip := strings.TrimSpace(p.Str("mask_ip"))
	if ip != "" {
		if a, err := netip.ParseAddr(strings.Trim(ip, "[]")); err == nil {
			ip = bracketHost(a.String())
		} else if !isHostName(ip) {
			return nil, fmt.Errorf("mask_ip: %q is neither an IP address nor a host name", ip)
		}
	}
	t.k = masker{c: c, ip: ip, uparam: p.Str("uparam_name"), uprefix: p.Str("uparam_prefix"),
		vparam: p.Str("vparam_name"), vprefix: p.Str("vparam_prefix"), cidPrefix: p.Str("callid_prefix"),
		uriPrefixChecks: p.Bool("uri_prefix_checks")}
	for name, v := range map[string]string{"uparam_name": t.k.uparam, "vparam_name": t.k.vparam} {
		if !msg.IsToken(v) {
			return nil, fmt.Errorf("%s: %q is not a parameter name", name, v)
		}
	}
	for name, v := range map[string]string{"uparam_prefix": t.k.uprefix, "vparam_prefix": t.k.vprefix} {
		if v == "" || !msg.IsToken(v) {
			return nil, fmt.Errorf("%s: %q must be a non-empty token", name, v)
		}
	}
	if t.k.cidPrefix == "" || strings.ContainsAny(t.k.cidPrefix, " \t\r\n\x00@") {
		return nil, fmt.Errorf("callid_prefix: %q must be non-empty, without blanks or '@'", t.k.cidPrefix)
	}
	mode := p.Int("event_mode")
	if mode < 0 || mode > 3 {
		return nil, fmt.Errorf("event_mode: want a bitmask of 1 and 2, got %d", mode)
	}
	if m := p.Int("use_mode"); m != 0 && m != 1 {
		return nil, fmt.Errorf("use_mode: want 0 or 1, got %d", m)
	}
	t.ev = evcb.New(env.Engine, p.Str("event_callback"), mode)
	t.stMasked = stats.New("topoh", "masked", "messages sent with topology hidden")
	t.stUnmasked = stats.New("topoh", "unmasked", "received messages whose masked values were restored")
	t.stForged = stats.New("topoh", "forged", "received messages refused: a masked value did not authenticate")
	if env.Core != nil {
		if key == defaultMaskKey {
			t.log.Warn("topoh mask_key is the public default: anyone can decode the hidden topology; set mask_key")
		}
		if p.Int("use_mode") == 0 {
			env.Core.ReceiveFilters = append(env.Core.ReceiveFilters, t.received)
			env.Core.SendFilters = append(env.Core.SendFilters, t.sending)
		}
	}
	return t, nil
}

// isHostName accepts a DNS name for mask_ip.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Exports implements kemi.Instance: topoh has no KEMI functions.
func (t *Topoh) Exports() []kemi.Export { return nil }

// PVs implements kemi.PVProvider: $th(ecallid) is the masked Call-ID of the
// current message.
func (t *Topoh) PVs() []*kemi.PVClass {
	return []*kemi.PVClass{{Name: "th", Inner: true, Doc: "$th(ecallid): the Call-ID of the message as topoh masks it.",
		Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
			if p.Inner != "ecallid" || c.M == nil || c.M.SIP == nil {
				return kemi.Nil
			}
			return kemi.StrV(t.MaskCallID(c.M.CallID()))
		}}}
}

// MaskCallID masks a Call-ID (topos mask_callid uses topoh as Kamailio does).
func (t *Topoh) MaskCallID(cid string) string { return t.k.maskCallID(cid) }

// UnmaskCallID restores a masked Call-ID; masked is false when cid is not
// masked, err set when it is but does not authenticate.
func (t *Topoh) UnmaskCallID(cid string) (orig string, masked bool, err error) {
	return t.k.unmaskCallID(cid)
}
