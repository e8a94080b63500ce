package nathelper

import (
	"errors"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// fixNatedContact puts the source IP:port into the first Contact URI, as
// fix_nated_contact(): what the user agent wrote there is an address behind
// its NAT. A maddr parameter would override the new host, so it goes.
func (x *nathelper) fixNatedContact(c *kemi.Ctx) int {
	src := c.M.Src
	_, err := editContacts(c.M, true, true, func(e contactElem) (string, bool, error) {
		u, ok := parseSIPURI(e.uri())
		if !ok {
			return "", false, errors.New("Contact URI is not a valid sip: URI")
		}
		u.host = hostText(src.Addr())
		u.port = strconv.Itoa(int(src.Port()))
		u = u.withoutParams("maddr")
		return e.withURI(u.String()), true, nil
	})
	if err != nil {
		return logFail(c, "fix_nated_contact", err)
	}
	return 1
}

// receivedURI is the source of the message as a SIP URI, the value the
// registrar stores as the contact's received address.
func receivedURI(m *msg.Msg) string { return sourceAlias(m).uri() }

func (x *nathelper) fixNatedRegister(c *kemi.Ctx) int {
	if x.receivedAVP == "" {
		return 1
	}
	if err := c.SetPV(x.receivedAVP, kemi.StrV(receivedURI(c.M))); err != nil {
		return logFail(c, "fix_nated_register", err)
	}
	return 1
}

// addRcvParam adds the received parameter to every Contact: as a quoted
// header parameter, or (upos, UDP only, as in Kamailio: the URI form has no
// room for a transport) as a URI parameter.
func (x *nathelper) addRcvParam(c *kemi.Ctx, upos int) int {
	m := c.M
	if upos != 0 && m.Proto != msg.UDP {
		return logFail(c, "add_rcv_param", errors.New("the received parameter goes into the Contact URI only for UDP"))
	}
	rcv := receivedURI(m)
	_, err := editContacts(m, false, false, func(e contactElem) (string, bool, error) {
		u, ok := parseSIPURI(e.uri())
		if !ok {
			return "", false, errors.New("Contact URI is not a valid sip: URI")
		}
		if upos != 0 {
			return e.withURI(u.withParam("received=" + rcv).String()), true, nil
		}
		// A bare URI gets its <> first: some parsers (sipgo among them)
		// misread a bare URI that follows a header parameter.
		text := strings.TrimRight(e.text, " \t")
		if !e.bracketed {
			text = e.text[:e.start] + "<" + e.uri() + ">" + strings.TrimRight(e.text[e.end:], " \t")
		}
		return text + ";received=\"" + rcv + "\"", true, nil
	})
	if err != nil {
		return logFail(c, "add_rcv_param", err)
	}
	return 1
}

// addAlias adds ;<alias_name>=<a> to the first Contact URI: right after
// host:port with first (where add_contact_alias puts it in Kamailio), else
// after the other parameters (set_contact_alias). With trim any alias
// parameter already there goes first.
func (x *nathelper) addAlias(m *msg.Msg, a alias, trim, first bool) error {
	_, err := editContacts(m, true, true, func(e contactElem) (string, bool, error) {
		u, ok := parseSIPURI(e.uri())
		if !ok {
			return "", false, errors.New("Contact URI is not a valid sip: URI")
		}
		if trim {
			u = u.withoutParams(x.aliasName)
		}
		p := x.aliasName + "=" + a.String()
		if first {
			u = u.withFirstParam(p)
		} else {
			u = u.withParam(p)
		}
		return e.withURI(u.String()), true, nil
	})
	return err
}

// addContactAlias is add_contact_alias(): the source address (or the one
// given) goes into the first Contact URI. Without an address given, nothing
// is added when the Contact already names the source.
func (x *nathelper) addContactAlias(c *kemi.Ctx, given *alias) int {
	m := c.M
	if _, ok := m.HeaderType(msg.HContact); !ok {
		return 2
	}
	a := sourceAlias(m)
	if given != nil {
		a = *given
	} else {
		u, ok := firstContactURI(m)
		if !ok {
			return logFail(c, "add_contact_alias", errors.New("Contact URI is not a valid sip: URI"))
		}
		if matchesSource(u, m) {
			return 2
		}
	}
	if err := x.addAlias(m, a, false, true); err != nil {
		return logFail(c, "add_contact_alias", err)
	}
	return 1
}

func (x *nathelper) addContactAliasAddr(c *kemi.Ctx, ip, port, proto string) int {
	addr, ok := parseHostIP(ip)
	if !ok {
		return logFail(c, "add_contact_alias_addr", errors.New("invalid IP address "+strconv.Quote(ip)))
	}
	n, err := strconv.Atoi(strings.TrimSpace(port))
	if err != nil || n < 1 || n > 65535 {
		return logFail(c, "add_contact_alias_addr", errors.New("invalid port "+strconv.Quote(port)))
	}
	p, ok := protoByName(proto)
	if !ok {
		return logFail(c, "add_contact_alias_addr", errors.New("invalid transport "+strconv.Quote(proto)))
	}
	return x.addContactAlias(c, &alias{ip: addr, port: n, proto: p})
}

func (x *nathelper) setContactAlias(c *kemi.Ctx, trim bool) int {
	fn := "set_contact_alias"
	if trim {
		fn = "set_contact_alias_trim"
	}
	if err := x.addAlias(c.M, sourceAlias(c.M), trim, false); err != nil {
		return logFail(c, fn, err)
	}
	return 1
}

// handleRURIAlias moves the alias of the R-URI into $du: mode 0 the first
// alias parameter, else the last. The value is checked before anything
// changes, so a bad alias leaves R-URI and $du as they were.
func (x *nathelper) handleRURIAlias(c *kemi.Ctx, mode int) int {
	m := c.M
	if m.Req == nil {
		return logFail(c, "handle_ruri_alias", errNotRequest)
	}
	u, ok := parseSIPURI(m.RURIString())
	if !ok {
		// tel: and other schemes carry no alias.
		if !strings.HasPrefix(strings.ToLower(m.RURIString()), "sip") {
			return 2
		}
		return logFail(c, "handle_ruri_alias", errors.New("R-URI is not a valid sip: URI"))
	}
	v, idx := u.param(x.aliasName, mode != 0)
	if idx < 0 {
		return 2
	}
	a, err := parseAlias(v)
	if err != nil {
		return logFail(c, "handle_ruri_alias", err)
	}
	if err := m.SetRURI(u.withoutParam(idx).String()); err != nil {
		return logFail(c, "handle_ruri_alias", err)
	}
	if err := m.SetDst(a.uri()); err != nil {
		return logFail(c, "handle_ruri_alias", err)
	}
	return 1
}

// setAliasToPV writes the alias of the received first Contact URI into a PV.
func (x *nathelper) setAliasToPV(c *kemi.Ctx, pv string) int {
	u, ok := firstContactURI(c.M)
	if !ok {
		return -1
	}
	v, idx := u.param(x.aliasName, false)
	if idx < 0 {
		return -1
	}
	a, err := parseAlias(v)
	if err != nil {
		return logFail(c, "set_alias_to_pv", err)
	}
	if err := c.SetPV(pv, kemi.StrV(a.uri())); err != nil {
		return logFail(c, "set_alias_to_pv", err)
	}
	return 1
}

// sameHost compares two URI hosts: as addresses when both are IP literals,
// else as case-insensitive names.
func sameHost(a, b string) bool {
	ia, okA := parseHostIP(a)
	ib, okB := parseHostIP(b)
	if okA && okB {
		return ia == ib
	}
	return strings.EqualFold(strings.Trim(a, "[]"), strings.Trim(b, "[]"))
}
