package dispatcher

import (
	"fmt"
	"strconv"
	"strings"
)

// attrs are a destination's attributes, "name=value;name=value" (the
// fifth field of a list file line, the attrs column). Names are matched
// without case; names other than the special ones are kept in body only,
// for the script ($dsv, setid/attrs PVs).
type attrs struct {
	body     string // as given, without a trailing ';'
	duid     string // call-load unique id (algorithm 10)
	maxload  int    // most active calls (algorithm 10), 0 no limit
	weight   int    // percent of calls (algorithm 9), 1..100, 0 unused
	rweight  int    // relative weight (algorithm 11), 1..100, 0 unused
	socket   string // sending socket, proto:ip:port
	sockname string // sending socket by name
	pingFrom string // From URI of keepalives
	obproxy  string // where keepalives go instead of the destination
	cc       int    // congestion control (algorithms 11 and 13)
	latency  int    // initial latency estimate in ms
	hasLat   bool
	ocmin    int // overload control bounds (accepted, unused: no KEMI sets the rate)
	ocmax    int
	ocrate   int
}

// attrParam is one name=value pair.
type attrParam struct {
	name, value string
}

// splitAttrs splits "a=1;b=\"x;y\";c" into parameters. A value may be
// double-quoted (the quotes are removed; a ';' inside stays). It fails on an
// empty name, a name with white space or quotes, an unterminated quote or
// text after a closing quote.
func splitAttrs(s string) ([]attrParam, error) {
	var out []attrParam
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ';' {
			j++
		}
		name := strings.TrimSpace(s[i:j])
		if name == "" {
			return nil, fmt.Errorf("empty attribute name at offset %d", i)
		}
		if strings.ContainsAny(name, " \t\"'") {
			return nil, fmt.Errorf("bad attribute name %q", name)
		}
		p := attrParam{name: name}
		i = j
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			if i < len(s) && s[i] == '"' {
				end := strings.IndexByte(s[i+1:], '"')
				if end < 0 {
					return nil, fmt.Errorf("attribute %s: unterminated quote", name)
				}
				p.value = s[i+1 : i+1+end]
				i += end + 2
				for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
					i++
				}
				if i < len(s) && s[i] != ';' {
					return nil, fmt.Errorf("attribute %s: text after the closing quote", name)
				}
			} else {
				k := i
				for k < len(s) && s[k] != ';' {
					k++
				}
				p.value = strings.TrimSpace(s[i:k])
				if strings.ContainsAny(p.value, "\"") {
					return nil, fmt.Errorf("attribute %s: stray quote in value", name)
				}
				i = k
			}
		}
		out = append(out, p)
		if i < len(s) && s[i] == ';' {
			i++
		}
	}
	return out, nil
}

// parseAttrs reads an attribute string. Syntax errors and non-numeric
// values of numeric attributes are errors (the destination is skipped);
// a weight or rweight outside 1..100 is kept as 0 with a warning, as in
// Kamailio, so the destination still serves the other algorithms.
func parseAttrs(s string) (attrs, []string, error) {
	a := attrs{ocmax: 100}
	// Trailing separators are dropped (Kamailio drops one ';').
	s = strings.TrimLeft(strings.TrimRight(s, "; \t\r\n"), " \t\r\n")
	a.body = s
	if s == "" {
		return a, nil, nil
	}
	ps, err := splitAttrs(s)
	if err != nil {
		return a, nil, err
	}
	var warns []string
	num := func(p attrParam) (int, error) {
		n, err := strconv.Atoi(p.value)
		if err != nil {
			return 0, fmt.Errorf("attribute %s=%q: not a number", p.name, p.value)
		}
		return n, nil
	}
	for _, p := range ps {
		var n int
		switch strings.ToLower(p.name) {
		case "duid":
			a.duid = p.value
		case "maxload":
			if n, err = num(p); err != nil {
				return a, nil, err
			}
			if n < 0 {
				return a, nil, fmt.Errorf("attribute maxload=%d: must not be negative", n)
			}
			a.maxload = n
		case "weight":
			if n, err = num(p); err != nil {
				return a, nil, err
			}
			if n < 1 || n > 100 {
				warns = append(warns, fmt.Sprintf("weight %d not in 1-100: not used for weight distribution", n))
				n = 0
			}
			a.weight = n
		case "rweight":
			if n, err = num(p); err != nil {
				return a, nil, err
			}
			if n < 1 || n > 100 {
				warns = append(warns, fmt.Sprintf("rweight %d not in 1-100: not used for relative weight distribution", n))
				n = 0
			}
			a.rweight = n
		case "socket":
			a.socket = p.value
		case "sockname":
			a.sockname = p.value
		case "ping_from":
			a.pingFrom = p.value
		case "obproxy":
			a.obproxy = p.value
		case "cc":
			if a.cc, err = num(p); err != nil {
				return a, nil, err
			}
		case "latency":
			if a.latency, err = num(p); err != nil {
				return a, nil, err
			}
			a.hasLat = true
		case "ocmin":
			if a.ocmin, err = num(p); err != nil {
				return a, nil, err
			}
		case "ocmax":
			if a.ocmax, err = num(p); err != nil {
				return a, nil, err
			}
		case "ocrate":
			if a.ocrate, err = num(p); err != nil {
				return a, nil, err
			}
		}
	}
	if a.ocmax <= 0 || a.ocmax > 100 {
		a.ocmax = 100
	}
	if a.ocmin < 0 || a.ocmin > a.ocmax {
		a.ocmin = 0
	}
	if a.ocrate < a.ocmin || a.ocrate > a.ocmax {
		a.ocrate = a.ocmin
	}
	return a, warns, nil
}
