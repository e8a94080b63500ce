// Package rr is record routing (Kamailio's rr module, KEMI functions
// KSR.rr.*): Record-Route insertion for requests that create dialogs, and
// Route processing (loose and strict routing, RFC 3261 §16.4, §16.6, §16.12)
// for requests that follow them.
//
// record_route and its variants do not write header text when called: they
// record the intent on the message, and an output hook of the core renders
// the Record-Route header(s) for each copy of the request as it leaves, with
// the address of the socket that copy actually leaves on — one header, or
// two ("double record-routing") when the request changes transport or
// interface. loose_route edits the Route headers through a lump, sets $du,
// the R-URI and the forced send socket as Kamailio does.
package rr

import (
	"errors"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "rr",
		Doc:  "Record-Route insertion and Route processing (loose and strict routing, RFC 3261 §16.4, §16.6, §16.12).",
		Params: []kemi.ParamDef{
			{Name: "enable_full_lr", Default: 0, Doc: "1: write \";lr=on\" instead of \";lr\" in Record-Route URIs (for user agents that drop an empty lr)."},
			{Name: "append_fromtag", Default: 1, Doc: "1: add ;ftag=<From tag> to Record-Route URIs (the To tag for an upstream in-dialog request); needed by is_direction."},
			{Name: "enable_double_rr", Default: 1, Doc: "1: two Record-Routes (each with ;r2=on) when the request leaves on another transport, address or port than it came in on; 2: always two, with the transport explicit; 0: never."},
			{Name: "add_username", Default: 0, Doc: "1: put the R-URI user (or custom_user_avp) into the Record-Route URI."},
			{Name: "enable_socket_mismatch_warning", Default: 1, Doc: "1: warn when the second Route of a double record-route names no local socket, or a preset Record-Route names a host that is not this server."},
			{Name: "custom_user_avp", Default: "", Doc: "AVP (\"$avp(name)\") whose value is used as the Record-Route user with add_username, instead of the R-URI user."},
			{Name: "force_send_socket", Default: 0, Doc: "1: force the send socket from our Route URI even for a single Record-Route (double record-routes always force it)."},
			{Name: "ignore_sips", Default: 0, Doc: "1: always build sip: Record-Route URIs; 0: sips: when the R-URI is sips."},
			{Name: "sockname_mode", Default: 0, Doc: "Socket names in Record-Route URIs (sn parameter): listen sockets have no names here; Route URIs are matched to sockets by address.", Ignored: true},
			{Name: "loose_route_mode", Default: 0, Doc: "Mode used by loose_route(): bit 1 skips the strict-router test (R-URI is myself), bit 2 skips flow tokens (outbound is not supported, so no effect)."},
		},
		New: newRR,
	})
}

// Per-message state keys. The values are treated as immutable: every change
// stores a new value, because tm's branch copies share the Ext values.
const (
	extRec = "rr"    // *recState: what record_route & co. asked for
	extLR  = "rr.lr" // *lrState: what loose_route found
)

type rr struct {
	fullLR        bool
	fromTag       bool
	doubleRR      int
	addUser       bool
	mismatchWarn  bool
	customUserAVP string
	forceSocket   bool
	ignoreSIPS    bool
	lrMode        int
	log           *zap.Logger
}

func newRR(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	x := &rr{
		fullLR:        p.Bool("enable_full_lr"),
		fromTag:       p.Bool("append_fromtag"),
		doubleRR:      p.Int("enable_double_rr"),
		addUser:       p.Bool("add_username"),
		mismatchWarn:  p.Bool("enable_socket_mismatch_warning"),
		customUserAVP: strings.TrimSpace(p.Str("custom_user_avp")),
		forceSocket:   p.Bool("force_send_socket"),
		ignoreSIPS:    p.Bool("ignore_sips"),
		lrMode:        p.Int("loose_route_mode"),
		log:           env.Log,
	}
	if x.doubleRR < 0 || x.doubleRR > 2 {
		return nil, errors.New("enable_double_rr must be 0, 1 or 2")
	}
	if x.customUserAVP != "" && env.Engine != nil {
		spec, err := env.Engine.ParsePV(x.customUserAVP)
		if err != nil {
			return nil, errors.New("custom_user_avp: " + err.Error())
		}
		if spec.Class.Name != "avp" {
			return nil, errors.New("custom_user_avp: " + x.customUserAVP + " is not an AVP")
		}
	}
	if env.Core != nil {
		env.Core.OutHooks = append(env.Core.OutHooks, x.outHook)
	}
	return x, nil
}

// Exports implements kemi.Instance.
func (x *rr) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.Fn0Int("record_route", "Add Record-Route for this request: one header with the address of the socket the request leaves on, or two (each with ;r2=on, outgoing side first) when it leaves on another transport, address or port than it came in on (enable_double_rr). The header text is written when the request is sent, before any received Record-Route. 1 ok, -1 already record-routed (or not a request).",
			func(c *kemi.Ctx) int { return x.recordRoute(c, "") }),
		kemi.FnStrInt("record_route_params", "As record_route, with the string (\";name=value...\") appended to the Record-Route URI parameters. 1 ok, -1 already record-routed or bad parameter text.",
			x.recordRoute),
		kemi.FnStrStrInt("record_route_preset", "Add Record-Route <sip:addr1;ftag=..;lr> (addr \"host[:port][;params]\" without scheme); when addr2 is not empty a second one with addr2 follows (add \";r2=on\" to both yourself). 1 ok, -1 already record-routed, addr2 given with enable_double_rr=0, or bad text.",
			x.recordRoutePreset),
		kemi.FnStrInt("record_route_preset_one", "As record_route_preset with a single address. 1 ok, -1 already record-routed or bad text.",
			func(c *kemi.Ctx, a string) int { return x.preset(c, a, "", false) }),
		kemi.FnStrInt("record_route_advertised_address", "As record_route with the given \"host[:port]\" instead of the socket address; two headers (with ;transport=) when the transport changes. 1 ok, -1 already record-routed or bad text.",
			x.recordRouteAdv),
		kemi.Fn0Int("remove_record_route", "Undo the Record-Route added for this request by record_route & co. (a second record_route call still returns -1, as in Kamailio). 1.",
			x.removeRecordRoute),
		kemi.FnStrInt("add_rr_param", "Append \";name=value\" to the Record-Route URI(s) of this request, before or after record_route/record_route_advertised_address (not to presets). 1 ok, -1 bad text or more than 512 bytes pending.",
			x.addRRParam),
		kemi.Fn0Int("loose_route", "Process the Route set (RFC 3261 §16.4, §16.12): remove our Route entries (both of a double record-route, forcing the send socket the second names), set $du to the next loose router or rewrite the R-URI for a strict one; restore the R-URI after a strict previous hop. 1 routed by the Route set (also when only our Route was there in a dialog), -1 no Route header or error, -3 initial request whose preloaded Route set held only us (removed).",
			func(c *kemi.Ctx) int { return x.looseRoute(c, x.lrMode) }),
		kemi.FnIntInt("loose_route_mode", "As loose_route with mode bits: 1 = loose routing only (no strict-router R-URI==myself test), 2 = skip outbound flow tokens.",
			x.looseRoute),
		kemi.Fn0Int("loose_route_preloaded", "Run loose_route (mode 0): 1 only when it returned -3 (initial request with a preloaded Route set that held only us), else -1.",
			func(c *kemi.Ctx) int {
				if x.looseRoute(c, 0) == rrPreloaded {
					return 1
				}
				return -1
			}),
		kemi.FnStrInt("check_route_param", "After loose_route: 1 if the parameters of our Route URI (\";lr;ftag=..;...\") match the regular expression (POSIX ERE, case-insensitive), else -1.",
			x.checkRouteParam),
		kemi.FnStrInt("is_direction", "After loose_route: \"downstream\" (caller to callee: our Route's ftag equals the From tag, or there is no ftag) or \"upstream\". 1 the request goes that way, -1 not, -6 unknown direction or append_fromtag=0.",
			x.isDirection),
		kemi.Fn0Int("next_hop_route", "1 if loose_route removed our Route entries and another Route entry gives the next hop, else -1.",
			x.nextHopRoute),
	}
}

// PVs implements kemi.PVProvider: the rr module's pseudo-variables.
func (x *rr) PVs() []*kemi.PVClass {
	return []*kemi.PVClass{
		{Name: "route_uri", Doc: "URI of the first Route header entry", Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value {
			rs := parseRoutes(c.M)
			if len(rs) == 0 {
				return kemi.Nil
			}
			return kemi.StrV(rs[0].uri)
		}},
		{Name: "rdir", Inner: true, Doc: "direction of the in-dialog request: $rdir(id) 1 downstream / 2 upstream, $rdir(name) \"downstream\" / \"upstream\"",
			Prepare: func(p *kemi.PVSpec) error {
				if p.Inner != "id" && p.Inner != "name" {
					return errors.New("key must be id or name")
				}
				return nil
			},
			Get: func(c *kemi.Ctx, p *kemi.PVSpec) kemi.Value {
				up := x.upstream(c)
				if p.Inner == "name" {
					if up {
						return kemi.StrV("upstream")
					}
					return kemi.StrV("downstream")
				}
				if up {
					return kemi.IntV(2)
				}
				return kemi.IntV(1)
			}},
		{Name: "fti", Doc: "From tag as in the initial request of the dialog (the To tag of an upstream request)",
			Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value { return tagValue(initialTag(c.M, x.upstream(c), true)) }},
		{Name: "tti", Doc: "To tag as in the reply to the initial request (the From tag of an upstream request)",
			Get: func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value { return tagValue(initialTag(c.M, x.upstream(c), false)) }},
	}
}

func tagValue(t string) kemi.Value {
	if t == "" {
		return kemi.Nil
	}
	return kemi.StrV(t)
}

// initialTag is the From (from=true) or To tag the dialog's initial request
// had: swapped for an upstream request.
func initialTag(m *msg.Msg, upstream, from bool) string {
	if upstream {
		from = !from
	}
	if from {
		return fromTag(m)
	}
	return toTag(m)
}

func fromTag(m *msg.Msg) string {
	if m.SIP == nil {
		return ""
	}
	if f := m.SIP.From(); f != nil {
		t, _ := f.Params.Get("tag")
		return t
	}
	return ""
}

func toTag(m *msg.Msg) string {
	if m.SIP == nil {
		return ""
	}
	if t := m.SIP.To(); t != nil {
		tag, _ := t.Params.Get("tag")
		return tag
	}
	return ""
}
