package sipraw

import "strings"

// Via is one Via value split into its parts.
type Via struct {
	Transport string // "UDP", "TCP", ... as written
	Host      string // with [] for IPv6
	Port      string // "" if none
	Params    string // ";branch=...;rport"
}

// ParseVia splits "SIP/2.0/UDP host:port;params" (blanks allowed around
// the slashes and before the parameters).
func ParseVia(v string) (Via, bool) {
	var x Via
	s := strings.TrimSpace(v)
	// sent-protocol: three tokens separated by '/'.
	for i := 0; i < 2; i++ {
		j := strings.IndexByte(s, '/')
		if j <= 0 {
			return Via{}, false
		}
		s = strings.TrimLeft(s[j+1:], " \t")
	}
	end := strings.IndexAny(s, " \t")
	if end <= 0 {
		return Via{}, false
	}
	x.Transport = s[:end]
	s = strings.TrimLeft(s[end:], " \t")
	hp := s
	if sc := strings.IndexByte(s, ';'); sc >= 0 {
		hp = strings.TrimRight(s[:sc], " \t")
		x.Params = s[sc:]
	}
	if strings.HasPrefix(hp, "[") {
		e := strings.IndexByte(hp, ']')
		if e < 0 {
			return Via{}, false
		}
		x.Host = hp[:e+1]
		if p := hp[e+1:]; p != "" {
			if p[0] != ':' {
				return Via{}, false
			}
			x.Port = p[1:]
		}
	} else if c := strings.IndexByte(hp, ':'); c >= 0 {
		x.Host, x.Port = hp[:c], hp[c+1:]
	} else {
		x.Host = hp
	}
	if x.Host == "" || strings.ContainsAny(x.Host, " \t,<>") {
		return Via{}, false
	}
	for i := 0; i < len(x.Port); i++ {
		if x.Port[i] < '0' || x.Port[i] > '9' {
			return Via{}, false
		}
	}
	return x, true
}

// ViaParam returns a parameter of a Via value ("" when absent).
func ViaParam(v, name string) string {
	i := strings.IndexByte(v, ';')
	if i < 0 {
		return ""
	}
	val, _ := Param(v[i:], name)
	return val
}

// HostPort is the sent-by: "host" or "host:port".
func (v Via) HostPort() string {
	if v.Port == "" {
		return v.Host
	}
	return v.Host + ":" + v.Port
}
