package secfilter

import (
	"fmt"
	"net/netip"
	"strings"
)

// Action is the action column of the secfilter table.
type Action int

// Actions, numbered as in Kamailio's secfilter table.
const (
	Blacklist   Action = 0
	Whitelist   Action = 1
	Destination Action = 2
)

func (a Action) String() string {
	switch a {
	case Blacklist:
		return "blacklist"
	case Whitelist:
		return "whitelist"
	case Destination:
		return "destination"
	}
	return fmt.Sprintf("action %d", int(a))
}

// Type is the type column: what the data is matched against.
type Type int

// Types, numbered as in Kamailio's secfilter table. With action 2
// (destination) only type 0 is meaningful: it then means a number.
const (
	TypeUA      Type = 0
	TypeCountry Type = 1
	TypeDomain  Type = 2
	TypeIP      Type = 3
	TypeUser    Type = 4
)

// typeNames are the names the RPC commands take (secfilter.add_bl ua x).
var typeNames = [...]string{"ua", "country", "domain", "ip", "user"}

func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type %d", int(t))
}

// ParseType maps an RPC type name to its Type.
func ParseType(name string) (Type, error) {
	for i, n := range typeNames {
		if name == n {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("invalid type %q (want ua, country, domain, ip or user)", name)
}

// Rule is one row of the secfilter table.
type Rule struct {
	Action Action
	Type   Type
	Data   string
}

// MaxData bounds one value. Kamailio's column is VARCHAR(64); a little more
// room costs nothing, but a megabyte-long "user agent" is a mistake.
const MaxData = 1024

// Validate checks a rule the way loading does, so a bad row, file line or
// RPC argument is refused with a reason instead of silently matching
// nothing — or, worse for an empty value, everything.
func (r Rule) Validate() error {
	switch r.Action {
	case Blacklist, Whitelist:
		if r.Type < TypeUA || r.Type > TypeUser {
			return fmt.Errorf("unknown type %d (0 ua, 1 country, 2 domain, 3 ip, 4 user)", int(r.Type))
		}
	case Destination:
		if r.Type != TypeUA {
			return fmt.Errorf("destination rules take type 0, not %d", int(r.Type))
		}
	default:
		return fmt.Errorf("unknown action %d (0 blacklist, 1 whitelist, 2 destination)", int(r.Action))
	}
	if r.Data == "" {
		// An empty prefix would match every value in Kamailio: one blank row
		// would block (or allow) all traffic.
		return fmt.Errorf("empty data")
	}
	if len(r.Data) > MaxData {
		return fmt.Errorf("data longer than %d bytes", MaxData)
	}
	for i := 0; i < len(r.Data); i++ {
		if c := r.Data[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("control character 0x%02x in data", c)
		}
	}
	if r.Action != Destination && r.Type == TypeIP {
		if _, err := parseIPEntry(r.Data); err != nil {
			return err
		}
	}
	return nil
}

// ipEntry is one IP list value: an address, a CIDR network, or (as in
// Kamailio) the text prefix of an address such as "192.168.1.".
type ipEntry struct {
	addr   netip.Addr
	prefix netip.Prefix
	text   string
}

func parseIPEntry(s string) (ipEntry, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return ipEntry{}, fmt.Errorf("bad CIDR: %v", err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return ipEntry{prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return ipEntry{addr: a.Unmap()}, nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return ipEntry{}, fmt.Errorf("%q is not an IP address, a CIDR network or the prefix of an address", s)
		}
	}
	return ipEntry{text: asciiLower(s)}, nil
}
