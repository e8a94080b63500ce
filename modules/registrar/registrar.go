// Package registrar is Kamailio's registrar module: REGISTER processing
// (RFC 3261 §10.3, Path RFC 3327, outbound instance/reg-id RFC 5626, public
// GRUUs RFC 5627) and location lookup for the usrloc module's tables, with
// KSR.registrar.* as in Kamailio and the $ulc(profile=>attr) variables.
package registrar

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/usrloc"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "registrar",
		Doc: "REGISTER processing (save, 200 OK with the bindings) and location lookup (lookup fills the R-URI " +
			"and the destination set by q) on usrloc's tables; $ulc. Needs usrloc.",
		Params: []kemi.ParamDef{
			{Name: "default_expires", Default: 3600, Doc: "Expiry of a contact given neither an expires parameter nor an Expires header."},
			{Name: "default_expires_range", Default: 0, Doc: "0..100: default_expires is lowered by a random part up to this percentage."},
			{Name: "expires_range", Default: 0, Doc: "0..100: an expiry asked by the client is lowered by a random part up to this percentage."},
			{Name: "min_expires", Default: 60, Doc: "Smallest accepted expiry (0: no minimum); see min_expires_mode."},
			{Name: "min_expires_mode", Default: 0, Doc: "0: a shorter expiry is raised to min_expires; 1: answered 423 Interval Too Brief with Min-Expires."},
			{Name: "max_expires", Default: 0, Doc: "Largest expiry (0: no maximum); longer ones are lowered to it."},
			{Name: "default_q", Default: -1, Doc: "q*1000 of contacts without a q parameter (-1: unspecified, sorts below q=0 as in Kamailio)."},
			{Name: "realm_prefix", Default: "", Doc: "Prefix stripped from the domain of AoRs (\"sip.\")."},
			{Name: "append_branches", Default: 1, Doc: "1: lookup adds the other contacts to the destination set (tm forks to them); 0: only the R-URI."},
			{Name: "aor_avp", Default: "", Ignored: true, Doc: "Removed in Kamailio: use the uri parameter of save_uri/lookup_uri."},
			{Name: "case_sensitive", Default: 0, Doc: "1: AoRs are compared and stored as written; 0: lower-cased."},
			{Name: "received_avp", Default: "", Doc: "AVP (\"$avp(RECEIVED)\") holding the source URI nathelper's fix_nated_register() stored; saved as the contact's received address."},
			{Name: "received_param", Default: "received", Doc: "Parameter naming the received address in the Contacts of the 200 OK (\"\": not added)."},
			{Name: "max_contacts", Default: 0, Doc: "Most contacts per AoR (0: no limit); more is refused with 503."},
			{Name: "retry_after", Default: 0, Doc: "Seconds for a Retry-After header in 5xx replies (0: none)."},
			{Name: "sock_flag", Default: -1, Doc: "Message flag: when set, the socket is read from the sock_hdr_name header instead of the receiving one."},
			{Name: "sock_hdr_name", Default: "", Doc: "Header carrying proto:ip:port (see sock_flag and add_sock_hdr)."},
			{Name: "sock_mode", Default: 0, Doc: "1: save the socket's advertised address instead of its bind address."},
			{Name: "method_filtering", Default: 0, Doc: "1: lookup for an initial request returns only the contacts whose Allow had its method (else -2)."},
			{Name: "use_path", Default: 0, Doc: "1: save the Path headers (RFC 3327) with the contacts; lookup routes through them."},
			{Name: "path_mode", Default: 2, Doc: "0: Path saved, not in the reply; 1: in the reply if the client supports path; 2: 420 when it does not."},
			{Name: "path_use_received", Default: 0, Doc: "1: the received parameter of the first Path URI becomes the contact's received address."},
			{Name: "path_check_local", Default: 0, Doc: "1: lookup skips a first Path hop that is this server."},
			{Name: "reg_callid_avp", Default: "", Doc: "Obsolete in Kamailio: AVP whose value registered() requires as the contact's Call-ID."},
			{Name: "xavp_cfg", Default: "", Doc: "XAVP with per-request settings (q, expires, max_contacts, socket, match_*, rlf_bflags); read only when $xavp exists."},
			{Name: "xavp_rcd", Default: "", Ignored: true, Doc: "No $xavp in luasbc: location record details are not exported as xavps."},
			{Name: "xavp_rcd_mask", Default: 0, Ignored: true, Doc: "No $xavp in luasbc."},
			{Name: "gruu_enabled", Default: 1, Doc: "1: contacts with +sip.instance get a pub-gruu in the 200 OK when the client supports gruu."},
			{Name: "outbound_mode", Default: 0, Doc: "0: Require: outbound answered 420; 1: outbound allowed; 2: required (421 without Supported: outbound)."},
			{Name: "regid_mode", Default: 0, Doc: "Accepted; reg-id is always saved with +sip.instance."},
			{Name: "flow_timer", Default: 0, Doc: "Seconds for a Flow-Timer header in the 200 OK of outbound registrations (needs outbound_mode 1 or 2)."},
			{Name: "contact_max_size", Default: 512, Doc: "Longest accepted contact URI (and received address)."},
			{Name: "event_callback", Default: "", Doc: "Lua function called with \"usrloc:contact-expired\" for every contact the usrloc timer removes ($ulc(exp=>attr))."},
			{Name: "lookup_filter_mode", Default: 0, Doc: "1: lookup keeps only contacts with a branch flag of $xavp(<xavp_cfg>=>rlf_bflags); 2 (active TCP connections) is not applied."},
			{Name: "use_expired_contacts", Default: 0, Doc: "1: lookup also returns contacts that expired but are not removed yet."},
		},
		New: newRegistrar,
	})
}

// config is the validated parameters.
type config struct {
	defaultExpires, defaultRange, expiresRange, minExpires, maxExpires int
	minMode423                                                         bool
	defaultQ                                                           int
	realmPrefix                                                        string
	appendBranches, caseSensitive                                      bool
	receivedAVP, receivedParam                                         string
	maxContacts, retryAfter, sockFlag                                  int
	sockHdr                                                            string
	sockMode, methodFiltering, usePath                                 bool
	pathMode                                                           int
	pathUseReceived, pathCheckLocal                                    bool
	callidAVP, xavpCfg                                                 string
	gruu                                                               bool
	outboundMode, flowTimer, contactMaxSize                            int
	eventCallback                                                      string
	filterBFlags, useExpired                                           bool
}

// Registrar is the module instance.
type Registrar struct {
	env *kemi.Env
	log *zap.Logger
	cfg config

	accepted, rejected *stats.Counter
	noXavpLogged       atomic.Bool
}

func newRegistrar(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	c := config{defaultExpires: p.Int("default_expires"), defaultRange: p.Int("default_expires_range"),
		expiresRange: p.Int("expires_range"), minExpires: p.Int("min_expires"), minMode423: p.Int("min_expires_mode") == 1,
		maxExpires: p.Int("max_expires"), defaultQ: p.Int("default_q"), realmPrefix: p.Str("realm_prefix"),
		appendBranches: p.Bool("append_branches"), caseSensitive: p.Bool("case_sensitive"),
		receivedAVP: strings.TrimSpace(p.Str("received_avp")), receivedParam: strings.TrimSpace(p.Str("received_param")),
		maxContacts: p.Int("max_contacts"), retryAfter: p.Int("retry_after"), sockFlag: p.Int("sock_flag"),
		sockHdr: strings.TrimSpace(p.Str("sock_hdr_name")), sockMode: p.Bool("sock_mode"),
		methodFiltering: p.Bool("method_filtering"), usePath: p.Bool("use_path"), pathMode: p.Int("path_mode"),
		pathUseReceived: p.Bool("path_use_received"), pathCheckLocal: p.Bool("path_check_local"),
		callidAVP: strings.TrimSpace(p.Str("reg_callid_avp")), xavpCfg: strings.TrimSpace(p.Str("xavp_cfg")),
		gruu: p.Bool("gruu_enabled"), outboundMode: p.Int("outbound_mode"), flowTimer: p.Int("flow_timer"),
		contactMaxSize: p.Int("contact_max_size"), eventCallback: strings.TrimSpace(p.Str("event_callback")),
		filterBFlags: p.Int("lookup_filter_mode")&1 != 0, useExpired: p.Bool("use_expired_contacts")}
	if err := c.check(); err != nil {
		return nil, err
	}
	if env.Engine != nil {
		for name, pv := range map[string]string{"received_avp": c.receivedAVP, "reg_callid_avp": c.callidAVP} {
			if pv == "" {
				continue
			}
			if _, err := env.Engine.ParsePV(pv); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	log := env.Log
	if log == nil {
		log = zap.NewNop()
	}
	r := &Registrar{env: env, log: log, cfg: c,
		accepted: stats.New("registrar", "accepted_regs", "REGISTER requests accepted"),
		rejected: stats.New("registrar", "rejected_regs", "REGISTER requests refused")}
	for name, v := range map[string]int{"default_expire": c.defaultExpires, "default_expires_range": c.defaultRange,
		"expires_range": c.expiresRange, "max_contacts": c.maxContacts, "max_expires": c.maxExpires} {
		v := int64(v)
		stats.Gauge("registrar", name, func() int64 { return v })
	}
	if env.Core != nil {
		env.Core.OutHooks = append(env.Core.OutHooks, pathRoute)
	}
	return r, nil
}

func (c *config) check() error {
	switch {
	case c.defaultExpires < 0:
		return fmt.Errorf("default_expires: want 0 or more seconds, got %d", c.defaultExpires)
	case c.defaultRange < 0 || c.defaultRange > 100:
		return fmt.Errorf("default_expires_range: want 0..100, got %d", c.defaultRange)
	case c.expiresRange < 0 || c.expiresRange > 100:
		return fmt.Errorf("expires_range: want 0..100, got %d", c.expiresRange)
	case c.minExpires < 0:
		return fmt.Errorf("min_expires: want 0 or more seconds, got %d", c.minExpires)
	case c.maxExpires < 0:
		return fmt.Errorf("max_expires: want 0 or more seconds, got %d", c.maxExpires)
	case c.maxExpires > 0 && c.minExpires > c.maxExpires:
		return fmt.Errorf("min_expires %d is above max_expires %d", c.minExpires, c.maxExpires)
	case c.defaultQ < -1 || c.defaultQ > 1000:
		return fmt.Errorf("default_q: want -1 or 0..1000, got %d", c.defaultQ)
	case c.maxContacts < 0:
		return fmt.Errorf("max_contacts: want 0 or more, got %d", c.maxContacts)
	case c.retryAfter < 0:
		return fmt.Errorf("retry_after: want 0 or more seconds, got %d", c.retryAfter)
	case c.sockFlag < -1 || c.sockFlag > 31:
		return fmt.Errorf("sock_flag: want -1 or a flag 0..31, got %d", c.sockFlag)
	case c.sockHdr != "" && !isToken(c.sockHdr):
		return fmt.Errorf("sock_hdr_name %q is not a header name", c.sockHdr)
	case c.pathMode < 0 || c.pathMode > 2:
		return fmt.Errorf("path_mode: want 0..2, got %d", c.pathMode)
	case c.outboundMode < 0 || c.outboundMode > 2:
		return fmt.Errorf("outbound_mode: want 0..2, got %d", c.outboundMode)
	case c.flowTimer < 0:
		return fmt.Errorf("flow_timer: want 0 or more seconds, got %d", c.flowTimer)
	case c.flowTimer > 0 && c.outboundMode == 0:
		return errors.New("flow_timer needs outbound_mode 1 or 2")
	case c.contactMaxSize < 16:
		return fmt.Errorf("contact_max_size: want 16 or more, got %d", c.contactMaxSize)
	case c.xavpCfg != "" && !isToken(c.xavpCfg):
		return fmt.Errorf("xavp_cfg %q is not an xavp name", c.xavpCfg)
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._!%*+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// Start checks that usrloc is there and hooks the contact-expired event.
func (r *Registrar) Start() error {
	ul := r.usrlocOf(r.env.Engine)
	if ul == nil {
		return errors.New("registrar needs the usrloc module (add usrloc to modules:)")
	}
	if r.cfg.eventCallback != "" {
		ul.OnExpired(r.expiredEvent)
	}
	return nil
}

func (r *Registrar) usrlocOf(e *kemi.Engine) *usrloc.Module {
	if e == nil {
		return nil
	}
	ul, _ := e.Instance("usrloc").(*usrloc.Module)
	return ul
}

// domain resolves a location table for a KSR call; nil (logged) if usrloc
// is missing or the name is not a table name.
func (r *Registrar) domain(c *kemi.Ctx, table string) (*usrloc.Module, *usrloc.Domain) {
	ul := r.usrlocOf(c.Engine)
	if ul == nil {
		c.Logger().Error("registrar: the usrloc module is not loaded")
		return nil, nil
	}
	d, err := ul.Domain(table)
	if err != nil {
		c.Logger().Error("registrar: location table", zap.String("table", table), zap.Error(err))
		return ul, nil
	}
	return ul, d
}

// Exports implements kemi.Instance.
func (r *Registrar) Exports() []kemi.Export {
	S, I := kemi.Str, kemi.Int
	fn := func(name, doc string, params []kemi.ParamType, f func(c *kemi.Ctx, a *kemi.Args) int) kemi.Export {
		return kemi.Fn(name, params, kemi.RetInt, doc, func(c *kemi.Ctx, a *kemi.Args) kemi.Value { return kemi.IntV(f(c, a)) })
	}
	return []kemi.Export{
		fn("save", "Process a REGISTER for table: add, refresh or remove the bindings of the To AoR and send the reply "+
			"(200 OK listing the bindings, or the error). flags: 0x01 memory only, 0x02 no reply (reg_send_reply), "+
			"0x04 one contact per AoR, 0x08 no expires ranges, 0x10 with 0x02: reply headers prepared. "+
			"1 inserted, 2 updated, 3 deleted, 4 bindings returned, -1 error, -2 too many contacts.",
			[]kemi.ParamType{S, I}, func(c *kemi.Ctx, a *kemi.Args) int { return r.save(c, a.S[0], int(a.I[1]), "") }),
		fn("save_uri", "As save, with the AoR taken from uri instead of To.",
			[]kemi.ParamType{S, I, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.save(c, a.S[0], int(a.I[1]), a.S[2]) }),
		fn("lookup", "Rewrite the R-URI with the AoR's highest-q contact ($du from Path or received) and add the others "+
			"as branches (append_branches). 1 found, -1 none, -2 found but method not allowed (method_filtering), -3 error.",
			[]kemi.ParamType{S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.lookup(c, a.S[0], "", modeRURI) }),
		fn("lookup_uri", "As lookup, for the AoR of uri instead of the R-URI.",
			[]kemi.ParamType{S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.lookup(c, a.S[0], a.S[1], modeRURI) }),
		fn("lookup_to_dset", "As lookup, but every contact becomes a branch; the R-URI is not changed (uri \"\": the R-URI's AoR).",
			[]kemi.ParamType{S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.lookup(c, a.S[0], a.S[1], modeDset) }),
		fn("lookup_branches", "lookup on the R-URI and on every branch that has only a URI. 1 if any was found, else the R-URI's code.",
			[]kemi.ParamType{S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.lookupBranches(c, a.S[0]) }),
		fn("lookup_xavp", "Contacts of uri into $xavp(rxname) / $xavp(cxname); needs $xavp (-3 without it).",
			[]kemi.ParamType{S, S, S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.lookupXavp(c, a.S[0], a.S[1], a.S[2], a.S[3]) }),
		fn("registered", "1 if the R-URI's AoR (To for replies) has contacts, -1 otherwise; the message is not changed.",
			[]kemi.ParamType{S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.registered(c, a.S[0], "", 0) }),
		fn("registered_uri", "As registered, for uri.",
			[]kemi.ParamType{S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.registered(c, a.S[0], a.S[1], 0) }),
		fn("registered_flags", "As registered_uri; match bits 1 Call-ID, 2 received, 4 contact, compared with $xavp(<xavp_cfg>=>match_*).",
			[]kemi.ParamType{S, S, I}, func(c *kemi.Ctx, a *kemi.Args) int { return r.registered(c, a.S[0], a.S[1], int(a.I[2])) }),
		fn("registered_action", "As registered_flags; the action bits (xavp restore) have no effect without $xavp.",
			[]kemi.ParamType{S, S, I, I}, func(c *kemi.Ctx, a *kemi.Args) int { return r.registered(c, a.S[0], a.S[1], int(a.I[2])) }),
		fn("set_q_override", "q (\"0.5\") for the contacts the next save stores. 1 ok, -1 not a qvalue.",
			[]kemi.ParamType{S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.setQOverride(c, a.S[0]) }),
		fn("add_sock_hdr", "Add header name with the receiving socket (proto:ip:port) to the request. 1 ok, -1 error.",
			[]kemi.ParamType{S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.addSockHdr(c, a.S[0]) }),
		fn("unregister", "Remove every contact of uri's AoR. 1 done (also when there was none), -1 bad uri, -2 storage error.",
			[]kemi.ParamType{S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.unregister(c, a.S[0], a.S[1], "") }),
		fn("unregister_ruid", "Remove the contact with ruid of uri's AoR. 1 done, -1 bad uri, -2 storage error, -3 not found.",
			[]kemi.ParamType{S, S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.unregister(c, a.S[0], a.S[1], a.S[2]) }),
		fn("reg_fetch_contacts", "Load uri's contacts into $ulc(profile=>...). 1 found, -1 none or error.",
			[]kemi.ParamType{S, S, S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.fetchContacts(c, a.S[0], a.S[1], a.S[2]) }),
		fn("reg_free_contacts", "Forget $ulc(profile). 1.",
			[]kemi.ParamType{S}, func(c *kemi.Ctx, a *kemi.Args) int { return r.freeContacts(c, a.S[0]) }),
		fn("reg_from_user", "1 if the request comes from an address uri's AoR registered from (mode 0: IP and port, 1: IP), -1 otherwise.",
			[]kemi.ParamType{S, S, I}, func(c *kemi.Ctx, a *kemi.Args) int { return r.fromUser(c, a.S[0], a.S[1], int(a.I[2])) }),
		fn("reg_send_reply", "Send the reply a save with flag 0x02 prepared. 1 sent, -1 none prepared or error.",
			nil, func(c *kemi.Ctx, _ *kemi.Args) int { return r.sendPrepared(c) }),
		kemi.Fn("ulc_rget", []kemi.ParamType{S, S}, kemi.RetXval, "Attribute of the record in $ulc(profile): aor, domain, aorhash, count.",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value { return r.ulcGet(c, a.S[0], a.S[1], 0) }),
		kemi.Fn("ulc_cget", []kemi.ParamType{S, S, I}, kemi.RetXval, "Attribute of contact idx (0-based) in $ulc(profile).",
			func(c *kemi.Ctx, a *kemi.Args) kemi.Value { return r.ulcGet(c, a.S[0], a.S[1], int(a.I[2])) }),
	}
}
