package registrar

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// Path (RFC 3327) at lookup: a contact saved with a Path is reached through
// it, so the request for that contact carries the Path as Route headers and
// goes to the first hop ($du). The destination set holds one Path per
// branch (msg.Branch.Path); the Route header is added when a copy of the
// request leaves — by tm for every branch, by KSR.forward for the R-URI —
// through a core OutHook that finds the branch's Path by its URI and
// destination. So each branch carries only its own Path, and a Route the
// script removes from the received request does not take the Path with it.

// extPaths maps the branches lookup made to their Path.
const extPaths = "registrar.paths"

type pathMap map[string]string

func pathKey(uri, dst string) string { return uri + "\x00" + dst }

// notePath remembers the Path of the branch going to uri via dst.
func notePath(m *msg.Msg, uri, dst, path string) {
	pm, _ := m.GetExt(extPaths).(pathMap)
	if path == "" {
		if pm != nil {
			delete(pm, pathKey(uri, dst))
		}
		return
	}
	if pm == nil {
		pm = pathMap{}
		m.SetExt(extPaths, pm)
	}
	pm[pathKey(uri, dst)] = path
	// Found again when the script changes $du after lookup.
	pm[pathKey(uri, "\x01")] = path
}

// pathRoute is the core OutHook: the Route header for the Path of the copy
// of the request about to be sent, placed before the first Route header
// (after the last header when there is none).
func pathRoute(m *msg.Msg, _ *msg.Socket) []msg.Lump {
	pm, _ := m.GetExt(extPaths).(pathMap)
	if pm == nil || m.Req == nil {
		return nil
	}
	uri := m.RURIString()
	p, ok := pm[pathKey(uri, m.DstURI)]
	if !ok {
		p = pm[pathKey(uri, "\x01")]
	}
	if p == "" {
		return nil
	}
	return []msg.Lump{{Op: msg.LumpInsertBefore, Name: "Route", Text: "Route: " + p + "\r\n"}}
}

var errPath = errors.New("malformed Path entry")

// pathURI returns the URI of one Path entry ("<sip:p1.example.com;lr>").
func pathURI(el string) (string, error) {
	el = strings.TrimSpace(el)
	lt := strings.IndexByte(el, '<')
	if lt < 0 {
		return "", errPath
	}
	gt := strings.IndexByte(el[lt:], '>')
	if gt < 0 {
		return "", errPath
	}
	uri := el[lt+1 : lt+gt]
	rest := strings.TrimSpace(el[lt+gt+1:])
	if rest != "" && rest[0] != ';' || msg.CheckValue(el) != nil {
		return "", errPath
	}
	if err := checkDisplayName(strings.TrimSpace(el[:lt])); err != nil {
		return "", errPath
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.Host == "" || strings.ContainsAny(uri, " \t") {
		return "", errPath
	}
	return uri, nil
}

// pathReceived is the received parameter of a Path URI (path_use_received:
// an edge proxy passes the client's NATed address in it).
func pathReceived(el string) string {
	uri, err := pathURI(el)
	if err != nil {
		return ""
	}
	var u sip.Uri
	if sip.ParseUri(uri, &u) != nil || u.UriParams == nil {
		return ""
	}
	v, _ := u.UriParams.Get("received")
	v = strings.Trim(v, "\"")
	if uq, err := unescapeParam(v); err == nil {
		v = uq
	}
	if msg.CheckValue(v) != nil || strings.ContainsAny(v, " <>\"") {
		return ""
	}
	return v
}

// unescapeParam decodes %XX in a URI parameter value.
func unescapeParam(s string) (string, error) {
	if u, ok := unescape(s); ok {
		return u, nil
	}
	return "", errPath
}
