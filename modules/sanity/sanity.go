// Package sanity checks received SIP messages for syntax and RFC 3261
// conformance and answers broken requests with a precise error reply
// (Kamailio's sanity module).
//
// The checks themselves are the pure function Check, separate from the reply
// sending, so they can be fuzzed and reused by other modules (topoh, topos).
package sanity

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "sanity",
		Doc:  "Syntax and RFC 3261 conformance checks of received messages; a failed check is answered with a precise error reply.",
		Params: []kemi.ParamDef{
			{Name: "default_checks", Default: 3047, Doc: "msg_checks bitmask of sanity_check_defaults (3047 = 1+2+4+32+64+128+256+512+2048)."},
			{Name: "uri_checks", Default: 7, Doc: "uri_checks bitmask of sanity_check_defaults: 1 R-URI, 2 From, 4 To, 8 Contact."},
			{Name: "proxy_require", Default: "", Doc: "Comma-separated option tags accepted in Proxy-Require."},
			{Name: "autodrop", Default: 1, Doc: "Native cfg only (return 0 to stop the script); KEMI always returns -1 on failure.", Ignored: true},
			{Name: "noreply", Default: 0, Doc: "1: do not reply on failure; keep the reply for sanity_reply()."},
			{Name: "size_checks", Default: 0, Doc: "1: run the size checks on every call, as if bit 65536 were set."},
			{Name: "size_message", Default: 16384, Doc: "Largest message in bytes (size checks; 0 disables)."},
			{Name: "size_headers", Default: 8192, Doc: "Largest header section in bytes."},
			{Name: "size_body", Default: 8192, Doc: "Largest body in bytes."},
			{Name: "size_header", Default: 2048, Doc: "Largest single header line in bytes."},
			{Name: "size_method", Default: 32, Doc: "Longest method name."},
			{Name: "size_ruri", Default: 256, Doc: "Longest Request-URI."},
			{Name: "size_from_uri", Default: 256, Doc: "Longest From URI."},
			{Name: "size_to_uri", Default: 256, Doc: "Longest To URI."},
			{Name: "size_contact_uri", Default: 256, Doc: "Longest Contact URI."},
			{Name: "size_route_uri", Default: 256, Doc: "Longest Route or Record-Route URI."},
			{Name: "size_path_uri", Default: 256, Doc: "Longest Path URI."},
			{Name: "size_pai_uri", Default: 256, Doc: "Longest P-Asserted-Identity URI."},
		},
		New: newSanity,
	})
}

// extKey holds the prepared *Failure in the message when noreply is set.
const extKey = "sanity.reply"

// Sanity is the module instance. Other modules may call its Check and
// CheckDefaults (Kamailio's sanity API).
type Sanity struct {
	params                  Params
	defChecks, defURIChecks int
	noReply                 bool

	passed, failed *stats.Counter
	perCheck       map[string]*stats.Counter
}

// checkNames are the names Check reports, one failure counter each.
var checkNames = []string{"sizes", "ruri_sip_version", "ruri_scheme", "required_headers", "via1_header",
	"rfc3261_compliance", "cseq_method", "cseq_value", "content_length", "expires_value", "proxy_require",
	"parse_uris", "digest_credentials", "authorization", "duptags"}

func newSanity(env *kemi.Env) (kemi.Instance, error) {
	ps := env.Params
	s := &Sanity{
		defChecks:    ps.Int("default_checks"),
		defURIChecks: ps.Int("uri_checks"),
		noReply:      ps.Bool("noreply"),
		params: Params{
			SizeChecks:     ps.Bool("size_checks"),
			SizeMessage:    ps.Int("size_message"),
			SizeHeaders:    ps.Int("size_headers"),
			SizeBody:       ps.Int("size_body"),
			SizeHeader:     ps.Int("size_header"),
			SizeMethod:     ps.Int("size_method"),
			SizeRURI:       ps.Int("size_ruri"),
			SizeFromURI:    ps.Int("size_from_uri"),
			SizeToURI:      ps.Int("size_to_uri"),
			SizeContactURI: ps.Int("size_contact_uri"),
			SizeRouteURI:   ps.Int("size_route_uri"),
			SizePathURI:    ps.Int("size_path_uri"),
			SizePAIURI:     ps.Int("size_pai_uri"),
		},
		passed:   stats.New("sanity", "passed", "messages that passed sanity_check"),
		failed:   stats.New("sanity", "failed", "messages that failed sanity_check"),
		perCheck: map[string]*stats.Counter{},
	}
	for _, v := range ps.Strs("proxy_require") {
		for _, opt := range strings.Split(v, ",") {
			if opt = strings.TrimSpace(opt); opt != "" {
				s.params.ProxyRequire = append(s.params.ProxyRequire, opt)
			}
		}
	}
	for _, n := range checkNames {
		s.perCheck[n] = stats.New("sanity", "failed_"+n, "messages that failed the "+n+" check")
	}
	return s, nil
}

// Check runs the selected checks with the module's parameters.
func (s *Sanity) Check(m *msg.Msg, msgChecks, uriChecks int) *Failure {
	return Check(m, msgChecks, uriChecks, &s.params)
}

// CheckDefaults runs the default_checks / uri_checks selection.
func (s *Sanity) CheckDefaults(m *msg.Msg) *Failure {
	return Check(m, s.defChecks, s.defURIChecks, &s.params)
}

// run is sanity_check: 1 passed, -1 failed (after replying, or keeping the
// reply for sanity_reply when noreply is set).
func (s *Sanity) run(c *kemi.Ctx, msgChecks, uriChecks int) int {
	m := c.M
	if s.noReply {
		// A reply prepared by an earlier call must not outlive a pass.
		delete(m.Ext, extKey)
	}
	f := Check(m, msgChecks, uriChecks, &s.params)
	if f == nil {
		s.passed.Inc()
		return 1
	}
	s.failed.Inc()
	if ctr := s.perCheck[f.Check]; ctr != nil {
		ctr.Inc()
	}
	c.Logger().Info("sanity check failed", zap.String("check", f.Check), zap.Int("code", f.Code),
		zap.String("reason", f.Reason), zap.String("detail", f.Detail))
	if !replyable(m) {
		return -1
	}
	if s.noReply {
		m.SetExt(extKey, f)
		return -1
	}
	s.send(c, f.Code, f.Reason, f.Headers)
	return -1
}

// replyable: replies and ACKs never get an answer.
func replyable(m *msg.Msg) bool { return m.Req != nil && m.Req.Method != sip.ACK }

func (s *Sanity) send(c *kemi.Ctx, code int, reason string, hdrs []string) bool {
	if err := c.Core.SendReply(c.M, msg.ReplyOpts{Code: code, Reason: reason, Headers: hdrs}); err != nil {
		c.Logger().Debug("sanity reply not sent", zap.Int("code", code), zap.Error(err))
		return false
	}
	return true
}

// reply is sanity_reply: send what a failed check prepared under noreply.
func (s *Sanity) reply(c *kemi.Ctx) int {
	m := c.M
	if !replyable(m) || !s.noReply {
		return 1
	}
	code, reason, hdrs := 500, "Server Sanity Failure", []string(nil)
	if f, ok := m.GetExt(extKey).(*Failure); ok {
		code, reason, hdrs = f.Code, f.Reason, f.Headers
	} else {
		c.Logger().Info("no sanity reply prepared, sending 500")
	}
	if !s.send(c, code, reason, hdrs) {
		return -1
	}
	return 1
}

// Exports implements kemi.Instance.
func (s *Sanity) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnIntIntInt("sanity_check",
			"Run the msg_checks bitmask (URI parsing per uri_checks). 1 passed; -1 failed, the error reply already sent unless noreply=1. Never replies to ACKs or replies.",
			func(c *kemi.Ctx, msgChecks, uriChecks int) int { return s.run(c, msgChecks, uriChecks) }),
		kemi.Fn0Int("sanity_check_defaults", "sanity_check with the default_checks and uri_checks parameters.",
			func(c *kemi.Ctx) int { return s.run(c, s.defChecks, s.defURIChecks) }),
		kemi.Fn0Int("sanity_reply",
			"With noreply=1: send the reply prepared by the failed check (500 \"Server Sanity Failure\" if none). 1 ok or nothing to do, -1 send error.",
			s.reply),
	}
}
