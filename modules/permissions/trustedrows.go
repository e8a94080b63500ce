package permissions

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// trustedRow is one trusted record as a store delivers it, before
// validation. where names it in errors.
type trustedRow struct {
	where    string
	src      string
	proto    string
	from     *string // nil = NULL
	ruri     *string
	tag      *string
	priority int64
}

// patternCompiler compiles the trusted table's patterns (POSIX basic
// expressions, case-sensitive, as Kamailio's regcomp without flags).
type patternCompiler func(p string) (*regexp.Regexp, error)

func compileTrustedPattern(p string) (*regexp.Regexp, error) { return compilePOSIX(p, false, false) }

// buildTrustedEntries validates rows. Rows with proto "none" never match
// and are left out, as Kamailio does. A bad row fails the whole load.
func buildTrustedEntries(rows []trustedRow, compile patternCompiler) ([]*trustedEntry, error) {
	// Many rows share a pattern; compile each text once.
	seen := map[string]*regexp.Regexp{}
	comp := func(p *string, what string) (*regexp.Regexp, error) {
		if p == nil {
			return nil, nil
		}
		if re, ok := seen[*p]; ok {
			return re, nil
		}
		re, err := compile(*p)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, *p, err)
		}
		seen[*p] = re
		return re, nil
	}
	out := make([]*trustedEntry, 0, len(rows))
	for _, r := range rows {
		src := strings.TrimSpace(r.src)
		if src == "" {
			return nil, fmt.Errorf("%s: empty source address", r.where)
		}
		proto, ok := parseTrustedProto(r.proto)
		if !ok {
			return nil, fmt.Errorf("%s: protocol %q: want any, udp, tcp, tls, sctp, ws, wss or none", r.where, r.proto)
		}
		if strings.EqualFold(strings.TrimSpace(r.proto), "none") {
			continue
		}
		e := &trustedEntry{src: canonicalSource(src), proto: proto, fromText: r.from, ruriText: r.ruri, priority: r.priority}
		var err error
		if e.from, err = comp(r.from, "from_pattern"); err != nil {
			return nil, fmt.Errorf("%s: %w", r.where, err)
		}
		if e.ruri, err = comp(r.ruri, "ruri_pattern"); err != nil {
			return nil, fmt.Errorf("%s: %w", r.where, err)
		}
		if r.tag != nil {
			e.tag, e.hasTag = *r.tag, true
		}
		out = append(out, e)
	}
	return out, nil
}

// parseTrustedProto reads the proto column or argument: any (ProtoNone),
// udp, tcp, tls, sctp, ws, wss, or none (ok, but never matches).
func parseTrustedProto(s string) (msg.Proto, bool) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "any") || strings.EqualFold(s, "none") {
		return msg.ProtoNone, true
	}
	return msg.ParseProto(s)
}

// canonicalSource writes an IP address the way a request's source address
// is written ("2001:db8::1", no brackets), so that the string comparison
// Kamailio makes does not depend on how the address was typed. Anything
// else stays as it is.
func canonicalSource(s string) string {
	if ip, ok := parseIP(s); ok {
		return ip.Unmap().String()
	}
	return s
}
