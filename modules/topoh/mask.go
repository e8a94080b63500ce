package topoh

import (
	"strings"

	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// masker writes and reads the masked forms, Kamailio's shapes with our
// encryption inside:
//
//	Via:     SIP/2.0/UDP <mask_ip>;<vparam_name>=<vparam_prefix><sealed Via value>
//	URI:     sip:<mask_ip>;<uparam_name>=<uparam_prefix><sealed URI>
//	Call-ID: <callid_prefix><sealed Call-ID>
type masker struct {
	c               *codec
	ip              string // mask_ip as written in a host part ("" = the socket address)
	uparam, uprefix string
	vparam, vprefix string
	cidPrefix       string
	uriPrefixChecks bool
}

// hostFor is the host part masked values carry: mask_ip, else fallback
// (the address of the socket the message leaves on).
func (k *masker) hostFor(fallback string) string {
	if k.ip != "" {
		return k.ip
	}
	return fallback
}

// bracketHost puts an IPv6 address into [].
func bracketHost(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

func (k *masker) maskVia(v, host string) string {
	return "SIP/2.0/UDP " + k.hostFor(host) + ";" + k.vparam + "=" + k.vprefix + k.c.seal(kindVia, v)
}

// isMaskedVia reports whether v has our masked shape.
func (k *masker) isMaskedVia(v string) bool {
	val := sipraw.ViaParam(v, k.vparam)
	if len(val) <= len(k.vprefix) || !strings.HasPrefix(val, k.vprefix) {
		return false
	}
	if k.ip != "" {
		x, ok := sipraw.ParseVia(v)
		if !ok || !strings.EqualFold(x.Host, k.ip) {
			return false
		}
	}
	return true
}

// unmaskVia returns the original of a masked Via; masked is false for a Via
// that is not masked, err set for one that is but does not authenticate.
func (k *masker) unmaskVia(v string) (orig string, masked bool, err error) {
	if !k.isMaskedVia(v) {
		return "", false, nil
	}
	val := sipraw.ViaParam(v, k.vparam)
	orig, err = k.c.open(kindVia, val[len(k.vprefix):])
	if err == nil && strings.ContainsAny(orig, "\r\n\x00") {
		err = errMaskedBad
	}
	return orig, true, err
}

func (k *masker) maskURI(uri, host string) string {
	scheme := "sip"
	if len(uri) > 5 && strings.EqualFold(uri[:5], "sips:") {
		scheme = "sips"
	}
	return scheme + ":" + k.hostFor(host) + ";" + k.uparam + "=" + k.uprefix + k.c.seal(kindURI, uri)
}

// maskedURIValue returns the sealed part of a masked URI, "" when uri is not
// masked. With uri_prefix_checks the URI must start exactly as we write it.
func (k *masker) maskedURIValue(uri string) string {
	u, ok := sipraw.ParseURI(uri)
	if !ok {
		return ""
	}
	val, ok := u.Param(k.uparam)
	if !ok || len(val) <= len(k.uprefix) || !strings.HasPrefix(val, k.uprefix) {
		return ""
	}
	if k.uriPrefixChecks {
		want := ":" + k.ip + ";" + k.uparam + "=" + k.uprefix
		if k.ip == "" {
			want = ":" + u.Host + ";" + k.uparam + "=" + k.uprefix
		}
		if !strings.HasPrefix(strings.ToLower(uri), strings.ToLower(u.Scheme+want)) {
			return ""
		}
	}
	return val[len(k.uprefix):]
}

// isMaskedURI reports whether uri has our masked shape.
func (k *masker) isMaskedURI(uri string) bool { return k.maskedURIValue(uri) != "" }

// unmaskURI returns the original of a masked URI (see unmaskVia).
func (k *masker) unmaskURI(uri string) (orig string, masked bool, err error) {
	val := k.maskedURIValue(uri)
	if val == "" {
		return "", false, nil
	}
	orig, err = k.c.open(kindURI, val)
	if err == nil && (strings.ContainsAny(orig, "\r\n\x00<> ") || orig == "") {
		err = errMaskedBad
	}
	return orig, true, err
}

func (k *masker) maskCallID(cid string) string { return k.cidPrefix + k.c.seal(kindCallID, cid) }

// unmaskCallID returns the original of a masked Call-ID (see unmaskVia).
func (k *masker) unmaskCallID(cid string) (orig string, masked bool, err error) {
	if k.cidPrefix == "" || len(cid) <= len(k.cidPrefix) || !strings.HasPrefix(cid, k.cidPrefix) {
		return "", false, nil
	}
	orig, err = k.c.open(kindCallID, cid[len(k.cidPrefix):])
	if err == nil && (strings.ContainsAny(orig, "\r\n\x00 \t") || orig == "") {
		err = errMaskedBad
	}
	return orig, true, err
}
