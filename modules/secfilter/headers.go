package secfilter

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// party is what the checks read from a From, To or Contact header, with
// Kamailio's meaning: the display name without its enclosing quotes, and the
// user and host of the URI as written (not percent-decoded).
type party struct {
	name            string
	hasName         bool // a display name was present (possibly "")
	user, domain    string
	hasUser, hasDom bool
}

// partyResult says why a party could not be read, with the codes the
// secf_check_*_hdr functions return then.
type partyResult int

const (
	partyOK      partyResult = 0
	partyMissing partyResult = 1  // no such header: "not found"
	partyBad     partyResult = -1 // unparsable: "error"
)

func userAgent(m *msg.Msg) (string, bool) {
	return m.HeaderType(msg.HUserAgent)
}

// fromTo reads From (to=false) or To. The core parser has already parsed
// both (a message without them never reaches the script).
func fromTo(m *msg.Msg, to bool) (party, partyResult) {
	var uri *sip.Uri
	var display string
	if to {
		h := m.SIP.To()
		if h == nil {
			return party{}, partyMissing
		}
		uri, display = &h.Address, h.DisplayName
	} else {
		h := m.SIP.From()
		if h == nil {
			return party{}, partyMissing
		}
		uri, display = &h.Address, h.DisplayName
	}
	p := party{user: uri.User, hasUser: uri.User != "", domain: uri.Host, hasDom: uri.Host != ""}
	if display != "" {
		p.name, p.hasName = display, true
	}
	return p, partyOK
}

// contact reads the first URI of the first Contact header. As Kamailio, a
// missing, "*" or unparsable Contact counts as not found.
func contact(m *msg.Msg) (party, partyResult) {
	v, ok := m.HeaderType(msg.HContact)
	if !ok {
		return party{}, partyMissing
	}
	parts := msg.SplitComma(v)
	if len(parts) == 0 {
		return party{}, partyMissing
	}
	first := strings.TrimSpace(parts[0])
	if first == "*" || first == "" {
		return party{}, partyMissing
	}
	var uriText string
	if i := strings.IndexByte(first, '<'); i >= 0 {
		j := strings.IndexByte(first[i:], '>')
		if j < 0 {
			return party{}, partyMissing
		}
		uriText = first[i+1 : i+j]
	} else {
		uriText = first
		if k := strings.IndexByte(uriText, ';'); k >= 0 {
			uriText = uriText[:k]
		}
	}
	var u sip.Uri
	if err := sip.ParseUri(strings.TrimSpace(uriText), &u); err != nil {
		return party{}, partyMissing
	}
	return party{user: u.User, hasUser: u.User != "", domain: u.Host, hasDom: u.Host != ""}, partyOK
}
