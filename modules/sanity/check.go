package sanity

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Check bits of msg_checks, Kamailio's values (sanity_mod.h) plus the two
// newer ones (RFC 3261 compliance, sizes).
const (
	CheckRURIVersion     = 1 << iota // R-URI SIP version is 2.0
	CheckRURIScheme                  // R-URI scheme is sip, sips, tel or tels
	CheckRequiredHeaders             // To, From, CSeq, Call-ID and Via present
	CheckViaVersion                  // no-op, as in Kamailio
	CheckViaProtocol                 // no-op, as in Kamailio
	CheckCSeqMethod                  // CSeq method equals the request method
	CheckCSeqValue                   // CSeq number is a 32-bit unsigned integer
	CheckContentLength               // Content-Length equals the body size
	CheckExpires                     // Expires is a 32-bit unsigned integer
	CheckProxyRequire                // every Proxy-Require option is supported
	CheckParseURIs                   // the URIs selected by uri_checks parse
	CheckDigest                      // all credentials are well-formed Digest
	CheckDupTags                     // no duplicated To/From tag
	CheckAuthorization               // Digest credentials (other schemes pass) are valid
	CheckVia1                        // top Via parses, has a host and a branch
	CheckRFC3261                     // z9hG4bK branch, lr in every Route/Record-Route
	CheckSizes                       // size_* limits
)

// Bits of uri_checks.
const (
	URIRequest = 1 << iota
	URIFrom
	URITo
	URIContact
)

// Params are the module parameters the checks depend on.
type Params struct {
	// ProxyRequire lists the option tags accepted in Proxy-Require.
	ProxyRequire []string
	// SizeChecks runs the size checks on every call, requested or not.
	SizeChecks bool
	// Size limits in bytes; 0 or less disables one.
	SizeMessage, SizeHeaders, SizeBody, SizeHeader, SizeMethod int
	SizeRURI, SizeFromURI, SizeToURI, SizeContactURI           int
	SizeRouteURI, SizePathURI, SizePAIURI                      int
}

// Failure says which check failed and the reply a request deserves.
type Failure struct {
	Check   string   // check name, for logs and stats
	Code    int      // reply status
	Reason  string   // reply reason phrase
	Detail  string   // what was wrong, for the log (values quoted and cut short)
	Headers []string // extra reply header lines, CRLF-terminated
}

func fail(check string, code int, reason, detail string, a ...any) *Failure {
	if len(a) > 0 {
		detail = fmt.Sprintf(detail, a...)
	}
	return &Failure{Check: check, Code: code, Reason: reason, Detail: detail}
}

// Check runs the checks selected by msgChecks (and uriChecks for the URI
// parsing check) on m, in Kamailio's order, and returns the first failure or
// nil. It does not change the message. Checks that make no sense for a
// reply (R-URI, CSeq method, Proxy-Require, credentials) pass for replies.
func Check(m *msg.Msg, msgChecks, uriChecks int, p *Params) *Failure {
	if p == nil {
		p = &Params{}
	}
	c := &checker{m: m, p: p, req: m.Req != nil}
	if c.req {
		c.method, c.ruri, c.version = splitRequestLine(m.Buf[:m.FirstEnd])
		if m.RURIChanged() {
			c.ruri = m.RURIString()
		}
	}
	steps := [...]struct {
		bit int
		run func() *Failure
	}{
		{CheckSizes, c.sizes},
		{CheckRURIVersion, c.ruriVersion},
		{CheckRURIScheme, c.ruriScheme},
		{CheckRequiredHeaders, c.requiredHeaders},
		{CheckVia1, c.via1},
		{CheckRFC3261, c.rfc3261},
		{CheckCSeqMethod, c.cseqMethod},
		{CheckCSeqValue, c.cseqValue},
		{CheckContentLength, c.contentLength},
		{CheckExpires, c.expires},
		{CheckProxyRequire, c.proxyRequire},
		{CheckParseURIs, func() *Failure { return c.parseURIs(uriChecks) }},
		{CheckDigest, func() *Failure { return c.credentials(true) }},
		{CheckAuthorization, func() *Failure { return c.credentials(false) }},
		{CheckDupTags, c.dupTags},
	}
	for _, s := range steps {
		if msgChecks&s.bit == 0 && !(s.bit == CheckSizes && p.SizeChecks) {
			continue
		}
		if f := s.run(); f != nil {
			return f
		}
	}
	return nil
}

type checker struct {
	m                     *msg.Msg
	p                     *Params
	req                   bool
	method, ruri, version string
}

// splitRequestLine cuts "METHOD SP Request-URI SP SIP-Version" from the raw
// first line; a missing part comes back empty.
func splitRequestLine(line string) (method, uri, version string) {
	line = strings.TrimRight(line, "\r\n")
	method, rest, _ := strings.Cut(line, " ")
	if i := strings.LastIndexByte(rest, ' '); i >= 0 {
		return method, rest[:i], rest[i+1:]
	}
	return method, rest, ""
}

// values returns the unfolded values of every header of type t.
func (c *checker) values(t msg.HType) []string {
	var out []string
	for i := range c.m.Hdrs {
		if c.m.Hdrs[i].Type == t {
			out = append(out, unfold(c.m.Hdrs[i].Value))
		}
	}
	return out
}

func (c *checker) first(t msg.HType) (string, bool) {
	v, ok := c.m.HeaderType(t)
	return unfold(v), ok
}

func (c *checker) ruriVersion() *Failure {
	if !c.req {
		return nil
	}
	proto, ver, ok := strings.Cut(c.version, "/")
	if !ok || !strings.EqualFold(proto, "SIP") || ver != "2.0" {
		return fail("ruri_sip_version", 505, "Version Not Supported (R-URI)", "version %s", short(c.version))
	}
	return nil
}

func (c *checker) ruriScheme() *Failure {
	if !c.req {
		return nil
	}
	scheme, _, ok := strings.Cut(c.ruri, ":")
	if !ok || scheme == "" {
		return fail("ruri_scheme", 400, "Bad Request URI", "no scheme in %s", short(c.ruri))
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel", "tels":
		return nil
	}
	return fail("ruri_scheme", 416, "Unsupported URI Scheme in Request URI", "scheme %s", short(scheme))
}

func (c *checker) requiredHeaders() *Failure {
	for _, h := range [...]struct {
		t    msg.HType
		name string
	}{{msg.HTo, "To"}, {msg.HFrom, "From"}, {msg.HCSeq, "CSeq"}, {msg.HCallID, "Call-ID"}, {msg.HVia, "Via"}} {
		if v, ok := c.m.HeaderType(h.t); !ok || trimLWS(v) == "" {
			return fail("required_headers", 400, "Missing Required Header in Request", "no %s header", h.name)
		}
	}
	return nil
}

// topVia parses the first via-parm of the first Via header.
func (c *checker) topVia() (*via, error) {
	v, ok := c.first(msg.HVia)
	if !ok {
		return nil, fmt.Errorf("no Via header")
	}
	return parseVia(msg.SplitComma(v)[0])
}

func (c *checker) via1() *Failure {
	v, err := c.topVia()
	if err != nil {
		return fail("via1_header", 400, "Bad Via", "top Via: %v", err)
	}
	if b, ok := v.param("branch"); !ok || b == "" {
		return fail("via1_header", 400, "Bad Via", "top Via without branch")
	}
	return nil
}

func (c *checker) rfc3261() *Failure {
	const check, reason = "rfc3261_compliance", "Not RFC 3261 compliant"
	v, err := c.topVia()
	if err != nil {
		return fail(check, 400, reason, "top Via: %v", err)
	}
	if b, _ := v.param("branch"); !strings.HasPrefix(b, "z9hG4bK") {
		return fail(check, 400, reason, "top Via branch %s lacks the z9hG4bK cookie", short(b))
	}
	for _, t := range [...]msg.HType{msg.HRoute, msg.HRecordRoute} {
		for _, hv := range c.values(t) {
			for _, e := range msg.SplitComma(hv) {
				na, err := parseNameAddr(e)
				if err != nil || !na.angle {
					return fail(check, 400, reason, "bad route entry %s", short(e))
				}
				lr := false
				for _, n := range uriParamNames(na.uri) {
					lr = lr || n == "lr"
				}
				if !lr {
					return fail(check, 400, reason, "route entry %s without lr", short(na.uri))
				}
			}
		}
	}
	return nil
}

// cseq splits the CSeq value into number and method.
func (c *checker) cseq() (num, method string) {
	v, _ := c.first(msg.HCSeq)
	v = trimLWS(v)
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		return v, ""
	}
	return v[:i], skipLWS(v[i:])
}

func (c *checker) cseqMethod() *Failure {
	if !c.req {
		return nil
	}
	// Methods are case-sensitive (RFC 3261 §7.1), so the comparison is exact.
	if _, meth := c.cseq(); meth != c.method || !isToken(meth) {
		return fail("cseq_method", 400, "CSeq method does not match request method",
			"CSeq method %s, request method %s", short(meth), short(c.method))
	}
	return nil
}

func (c *checker) cseqValue() *Failure {
	num, _ := c.cseq()
	if _, ok := parseUint32(num); !ok {
		return fail("cseq_value", 400, "Bad CSeq Number", "CSeq number %s", short(num))
	}
	return nil
}

func (c *checker) contentLength() *Failure {
	v, ok := c.first(msg.HContentLength)
	if !ok {
		// Datagrams need no Content-Length; streams are framed by it before
		// a message gets here.
		return nil
	}
	v = trimLWS(v)
	n, valid := parseUint32(v)
	if body := len(c.m.RawBody()); !valid || n != uint64(body) {
		return fail("content_length", 400, "Content-Length mis-match", "Content-Length %s, body %d bytes", short(v), body)
	}
	return nil
}

func (c *checker) expires() *Failure {
	for _, v := range c.values(msg.HExpires) {
		if _, ok := parseUint32(trimLWS(v)); !ok {
			return fail("expires_value", 400, "Bad Expires Header", "Expires %s", short(v))
		}
	}
	return nil
}

func (c *checker) proxyRequire() *Failure {
	if !c.req {
		return nil
	}
	var unsupported []string
	for _, v := range c.values(msg.HProxyRequire) {
		n := 0
		for _, opt := range strings.Split(v, ",") {
			opt = trimLWS(opt)
			if opt == "" {
				continue
			}
			// The tag is echoed in the Unsupported header of the reply, so
			// only a clean token may get there.
			if !isToken(opt) {
				return fail("proxy_require", 400, "Bad Proxy Require Header", "option %s", short(opt))
			}
			n++
			if !containsFold(c.p.ProxyRequire, opt) && !containsFold(unsupported, opt) {
				unsupported = append(unsupported, opt)
			}
		}
		if n == 0 {
			return fail("proxy_require", 400, "Bad Proxy Require Header", "empty Proxy-Require")
		}
	}
	if len(unsupported) == 0 {
		return nil
	}
	f := fail("proxy_require", 420, "Bad Proxy Require Extension", "unsupported %s", short(strings.Join(unsupported, ", ")))
	f.Headers = []string{"Unsupported: " + strings.Join(unsupported, ", ") + "\r\n"}
	return f
}

// containsFold: option tags are tokens, compared case-insensitively
// (RFC 3261 §7.3.1).
func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (c *checker) parseURIs(which int) *Failure {
	if which&URIRequest != 0 && c.req {
		if err := validateURI(c.ruri, false); err != nil {
			return fail("parse_uris", 400, "Bad Request URI", "R-URI %s: %v", short(c.ruri), err)
		}
	}
	for _, h := range [...]struct {
		bit    int
		t      msg.HType
		reason string
	}{{URIFrom, msg.HFrom, "Bad From URI"}, {URITo, msg.HTo, "Bad To URI"}} {
		if which&h.bit == 0 {
			continue
		}
		v, _ := c.first(h.t)
		na, err := parseNameAddr(v)
		if err == nil {
			err = validateURI(na.uri, true)
		}
		if err != nil {
			return fail("parse_uris", 400, h.reason, "%s: %v", short(v), err)
		}
	}
	if which&URIContact != 0 {
		for _, v := range c.values(msg.HContact) {
			if trimLWS(v) == "*" {
				continue
			}
			for _, e := range msg.SplitComma(v) {
				na, err := parseNameAddr(e)
				if err == nil {
					err = validateURI(na.uri, true)
				}
				if err != nil {
					return fail("parse_uris", 400, "Bad Contact URI", "%s: %v", short(e), err)
				}
			}
		}
	}
	return nil
}

// credentials checks every Authorization and Proxy-Authorization header.
// strict (the digest check) also fails for non-Digest schemes; otherwise
// (the authorization check) those are left alone, as Kamailio does.
func (c *checker) credentials(strict bool) *Failure {
	if !c.req {
		return nil
	}
	check := "authorization"
	if strict {
		check = "digest_credentials"
	}
	for i := range c.m.Hdrs {
		h := &c.m.Hdrs[i]
		if h.Type != msg.HAuthorization && h.Type != msg.HProxyAuthorization {
			continue
		}
		scheme, ps, err := parseCredentials(h.Value)
		if scheme != "" && !strings.EqualFold(scheme, "Digest") {
			if strict {
				return fail(check, 400, "Bad Authorization Header", "%s scheme %s is not Digest", h.Name, short(scheme))
			}
			continue
		}
		if err == nil {
			err = checkDigest(ps)
		}
		if err != nil {
			return fail(check, 400, "Bad Authorization Header", "%s: %v", h.Name, err)
		}
	}
	return nil
}

// checkDigest requires what a digest response cannot be computed or checked
// without (RFC 2617 §3.2.2, RFC 7616 §3.4).
func checkDigest(ps map[string]string) error {
	for _, k := range [...]string{"username", "nonce", "uri", "response"} {
		if ps[k] == "" {
			return fmt.Errorf("missing or empty %s", k)
		}
	}
	if _, ok := ps["realm"]; !ok {
		return fmt.Errorf("missing realm")
	}
	for i := 0; i < len(ps["response"]); i++ {
		if !isHex(ps["response"][i]) {
			return fmt.Errorf("response is not hexadecimal")
		}
	}
	if strings.ContainsAny(ps["uri"], " \t\r\n") {
		return fmt.Errorf("white space in digest uri")
	}
	if qop, ok := ps["qop"]; ok {
		if !isToken(qop) {
			return fmt.Errorf("bad qop %s", short(qop))
		}
		if ps["cnonce"] == "" {
			return fmt.Errorf("qop without cnonce")
		}
		nc := ps["nc"]
		if len(nc) != 8 {
			return fmt.Errorf("qop without a valid nc")
		}
		for i := 0; i < len(nc); i++ {
			if !isHex(nc[i]) {
				return fmt.Errorf("nc %s is not hexadecimal", short(nc))
			}
		}
	}
	if a, ok := ps["algorithm"]; ok && !isToken(a) {
		return fmt.Errorf("bad algorithm %s", short(a))
	}
	return nil
}

func (c *checker) dupTags() *Failure {
	for _, h := range [...]struct {
		t    msg.HType
		name string
	}{{msg.HFrom, "From"}, {msg.HTo, "To"}} {
		v, _ := c.first(h.t)
		na, err := parseNameAddr(v)
		if err != nil {
			return fail("duptags", 400, "Bad Request", "%s: %v", h.name, err)
		}
		n := 0
		for _, p := range na.params {
			if strings.EqualFold(p.name, "tag") {
				n++
			}
		}
		if n > 1 {
			return fail("duptags", 400, "Bad Request", "%d tags in %s", n, h.name)
		}
	}
	return nil
}

// sizes applies the size_* limits. A URI that cannot be found is not
// measured: the URI parsing check reports it.
func (c *checker) sizes() *Failure {
	const check = "sizes"
	p, m := c.p, c.m
	over := func(limit, n int) bool { return limit > 0 && n > limit }
	if over(p.SizeMessage, len(m.Buf)) {
		return fail(check, 413, "Message Too Large", "message %d bytes > %d", len(m.Buf), p.SizeMessage)
	}
	if c.req && over(p.SizeRURI, len(c.ruri)) {
		return fail(check, 400, "Request URI Too Long", "R-URI %d bytes > %d", len(c.ruri), p.SizeRURI)
	}
	meth := c.method
	if !c.req {
		_, meth = c.cseq()
	}
	if over(p.SizeMethod, len(meth)) {
		return fail(check, 400, "Method Too Long", "method %d bytes > %d", len(meth), p.SizeMethod)
	}
	for i := range m.Hdrs {
		if n := m.Hdrs[i].End - m.Hdrs[i].Start; over(p.SizeHeader, n) {
			return fail(check, 400, "Header Too Long", "%s header %d bytes > %d", short(m.Hdrs[i].Name), n, p.SizeHeader)
		}
	}
	if n := m.BodyOff - m.FirstEnd; over(p.SizeHeaders, n) {
		return fail(check, 413, "Message Too Large", "headers %d bytes > %d", n, p.SizeHeaders)
	}
	if n := len(m.RawBody()); over(p.SizeBody, n) {
		return fail(check, 413, "Message Too Large", "body %d bytes > %d", n, p.SizeBody)
	}
	for _, u := range [...]struct {
		types  []msg.HType
		names  []string
		limit  int
		what   string
		reason string
	}{
		{types: []msg.HType{msg.HFrom}, limit: p.SizeFromURI, what: "From", reason: "From URI Too Long"},
		{types: []msg.HType{msg.HTo}, limit: p.SizeToURI, what: "To", reason: "To URI Too Long"},
		{types: []msg.HType{msg.HContact}, limit: p.SizeContactURI, what: "Contact", reason: "Contact URI Too Long"},
		{types: []msg.HType{msg.HRoute, msg.HRecordRoute}, limit: p.SizeRouteURI, what: "Route", reason: "Route URI Too Long"},
		{names: []string{"path"}, limit: p.SizePathURI, what: "Path", reason: "Path URI Too Long"},
		{names: []string{"p-asserted-identity"}, limit: p.SizePAIURI, what: "P-Asserted-Identity", reason: "P-Asserted-Identity URI Too Long"},
	} {
		if u.limit <= 0 {
			continue
		}
		for _, uri := range c.uris(u.types, u.names) {
			if len(uri) > u.limit {
				return fail(check, 400, u.reason, "%s URI %d bytes > %d", u.what, len(uri), u.limit)
			}
		}
	}
	return nil
}

// uris lists the URIs of the headers of the given types or names that can
// be split out.
func (c *checker) uris(types []msg.HType, names []string) []string {
	var out []string
	for i := range c.m.Hdrs {
		h := &c.m.Hdrs[i]
		match := false
		for _, t := range types {
			match = match || h.Type == t
		}
		for _, n := range names {
			match = match || h.Type == msg.HOther && strings.EqualFold(h.Name, n)
		}
		if !match {
			continue
		}
		v := unfold(h.Value)
		if h.Type == msg.HContact && trimLWS(v) == "*" {
			continue
		}
		entries := []string{v}
		if h.Type != msg.HFrom && h.Type != msg.HTo {
			entries = msg.SplitComma(v)
		}
		for _, e := range entries {
			if na, err := parseNameAddr(e); err == nil {
				out = append(out, na.uri)
			}
		}
	}
	return out
}

// String renders the failure for logs and tests.
func (f *Failure) String() string {
	return f.Check + ": " + strconv.Itoa(f.Code) + " " + f.Reason + " (" + f.Detail + ")"
}
