// Package siputils provides SIP message and URI checks and helpers
// (Kamailio's siputils module, KEMI functions KSR.siputils.*).
package siputils

import (
	"errors"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "siputils",
		Doc:  "SIP message and URI checks, R-URI parameter editing, Contact encoding and the OPTIONS keepalive reply.",
		Params: []kemi.ParamDef{
			{Name: "options_accept", Default: "*/*", Doc: "Accept header value of the options_reply 200."},
			{Name: "options_accept_encoding", Default: "", Doc: "Accept-Encoding header value of the options_reply 200."},
			{Name: "options_accept_language", Default: "en", Doc: "Accept-Language header value of the options_reply 200."},
			{Name: "options_support", Default: "", Doc: "Supported header value of the options_reply 200."},
			{Name: "contact_flds_separator", Default: "*", Doc: "First character separates the fields of encode_contact/decode_contact."},
			{Name: "rpid_prefix", Default: "", Doc: "Remote-Party-ID prefix for append_rpid_hf (not a KEMI function).", Ignored: true},
			{Name: "rpid_suffix", Default: ";party=calling;id-type=subscriber;screen=yes", Doc: "Remote-Party-ID suffix for append_rpid_hf.", Ignored: true},
			{Name: "rpid_avp", Default: "$avp(s:rpid)", Doc: "AVP holding the RPID value.", Ignored: true},
			{Name: "ring_timeout", Default: 0, Doc: "183-to-180 conversion timeout (ring_insert_callid is not a KEMI function).", Ignored: true},
			{Name: "e164_max_len", Default: 16, Doc: "Maximum length of an E.164 number for is_e164 (not a KEMI function).", Ignored: true},
		},
		New: newSiputils,
	})
}

type siputils struct {
	accept, acceptEnc, acceptLang, supported string
	sep                                      byte
}

func newSiputils(env *kemi.Env) (kemi.Instance, error) {
	s := &siputils{accept: env.Params.Str("options_accept"), acceptEnc: env.Params.Str("options_accept_encoding"),
		acceptLang: env.Params.Str("options_accept_language"), supported: env.Params.Str("options_support")}
	for _, v := range []string{s.accept, s.acceptEnc, s.acceptLang, s.supported} {
		if err := msg.CheckValue(v); err != nil {
			return nil, err
		}
	}
	sep := env.Params.Str("contact_flds_separator")
	if sep == "" {
		return nil, errors.New("contact_flds_separator must not be empty")
	}
	s.sep = sep[0]
	return s, nil
}

// Exports implements kemi.Instance.
func (s *siputils) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.Fn0Int("has_totag", "1 if the To header has a tag (in-dialog request), else -1.", hasToTag),
		kemi.Fn0Int("is_request", "1 for a request, -1 for a reply.", func(c *kemi.Ctx) int { return rc(c.M.Req != nil) }),
		kemi.Fn0Int("is_reply", "1 for a reply, -1 for a request.", func(c *kemi.Ctx) int { return rc(c.M.Res != nil) }),
		kemi.Fn0Int("is_sip", "1: luasbc handles SIP messages only.", func(c *kemi.Ctx) int { return rc(c.M.SIP != nil) }),
		kemi.Fn0Int("is_http", "-1: luasbc handles SIP messages only.", func(*kemi.Ctx) int { return -1 }),
		kemi.Fn0Int("is_first_hop", "Requests: 1 if there is a single Via. Replies: 1 if the top Record-Route is this server (by IP) and the reply does not come from that address.",
			func(c *kemi.Ctx) int { return firstHop(c, 0) }),
		kemi.FnIntInt("is_first_hop_mode", "As is_first_hop; mode 1 accepts a domain in Record-Route and skips the loop check.", firstHop),
		kemi.FnStrInt("is_uri", "1 if the value parses as a SIP, SIPS, TEL or URN URI, else -1.", func(_ *kemi.Ctx, v string) int { return isURI(v) }),
		kemi.FnStrInt("is_user", "1 if the username (user part) in the credentials equals the value, else -1.", isUser),
		kemi.FnStrInt("uri_param", "1 if the R-URI has the parameter without a value (name is case-sensitive), else -1.",
			func(c *kemi.Ctx, n string) int { return uriParamValue(c, n, nil) }),
		kemi.FnStrStrInt("uri_param_value", "1 if the R-URI has the parameter with exactly this value, else -1.",
			func(c *kemi.Ctx, n, v string) int { return uriParamValue(c, n, &v) }),
		kemi.FnStrInt("uri_param_any", "1 if the R-URI has the parameter with or without a value (any case), else -1.", uriParamAny),
		kemi.FnStrInt("uri_param_rm", "Remove the parameter from the R-URI. 1 (also when absent), -1 on error.", uriParamRm),
		kemi.FnStrInt("add_uri_param", "Append name=value as a parameter of the R-URI. 1 ok, -1 error.", addURIParam),
		kemi.FnStrInt("is_tel_number", "1 if the value is an optional + (then 1-9) followed by digits only; -2 otherwise.",
			func(_ *kemi.Ctx, v string) int { return isTelNumber(v) }),
		kemi.FnStrInt("is_numeric", "1 if the value is decimal digits only; -2 otherwise.", func(_ *kemi.Ctx, v string) int { return isNumeric(v) }),
		kemi.FnStrInt("is_alphanum", "1 if the value is ASCII letters and digits only; -2 empty, -3 other characters.",
			func(_ *kemi.Ctx, v string) int { return isAlphanumEx(v, "") }),
		kemi.FnStrStrInt("is_alphanumex", "As is_alphanum, also allowing the characters of the second parameter.",
			func(_ *kemi.Ctx, v, e string) int { return isAlphanumEx(v, e) }),
		kemi.Fn0Int("options_reply", "Answer an OPTIONS to this server (host ours, no user) with 200 and Allow/Accept/Accept-Encoding/Accept-Language/Supported. 1 sent, -1 otherwise.",
			s.optionsReply),
		kemi.FnStrStrInt("encode_contact", "Encode Contact URIs as sip:prefix*user*pass*host*port*proto@hostpart. 1 ok, -1 error.", s.encodeContact),
		kemi.Fn0Int("decode_contact", "Decode an encode_contact R-URI back to sip:user:pass@host:port;transport=proto. 1 ok, -1 error.", s.decodeContact),
		kemi.Fn0Int("decode_contact_header", "Decode encode_contact Contact URIs. 1 ok, -1 error.", s.decodeContactHeader),
		kemi.FnStrStrInt("contact_param_encode", "Replace each Contact URI with saddr;pname=<base64url of the URI>. 1 ok (also without Contact), -1 error.",
			func(c *kemi.Ctx, p, a string) int { return s.paramEncode(c, "contact_param_encode", p, a, false) }),
		kemi.FnStrStrInt("contact_param_encode_alias", "As contact_param_encode, with ;alias=srcip~srcport~proto added to the encoded URI.",
			func(c *kemi.Ctx, p, a string) int { return s.paramEncode(c, "contact_param_encode_alias", p, a, true) }),
		kemi.FnStrInt("contact_param_decode", "Replace each Contact URI carrying pname with its decoded value. 1 ok, -1 error.", s.paramDecode),
		kemi.FnStrInt("contact_param_decode_ruri", "Replace the R-URI with the decoded value of its pname parameter. 1 ok (also when absent), -1 error.", s.paramDecodeRURI),
		kemi.FnStrInt("contact_param_rm", "Remove pname from the Contact URIs. 1 ok, -1 error.", s.paramRm),
		kemi.FnStrInt("contact_param_check", "1 if a Contact URI carries pname, else -1.", s.paramCheck),
		kemi.FnIntInt("hdr_date_check", "1 if the Date header exists and is at most tdiff seconds old, else -1.", hdrDateCheck),
		kemi.FnStrStrInt("cmp_uri", "Compare two URIs by RFC 3261 §19.1.4: 1 equal, -1 different, -2 parse error.",
			func(_ *kemi.Ctx, a, b string) int { return cmpURI(a, b) }),
		kemi.FnStrStrInt("cmp_aor", "Compare user, host and port of two URIs (scheme optional): 1 equal, -1 different, -2 parse error.",
			func(_ *kemi.Ctx, a, b string) int { return cmpAOR(a, b) }),
		kemi.FnStrStrInt("cmp_hdr_name", "Compare header names (any case, compact forms equal): 1 equal, -1 different, -2 empty.",
			func(_ *kemi.Ctx, a, b string) int { return cmpHdrName(a, b) }),
		kemi.Fn0Int("is_gruu", "1 if the R-URI is a public GRUU (gr=value), 2 a temporary one (gr), -1 otherwise.", isGRUU),
		kemi.Fn0Int("sip_parse_headers", "Parse all headers: messages are fully parsed on receipt, so 1.", func(*kemi.Ctx) int { return 1 }),
	}
}
