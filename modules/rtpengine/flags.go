package rtpengine

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parsedFlags is a flag string of the KSR functions ("trust-address
// replace-origin ICE=remove RTP/AVP direction=pub direction=priv ...")
// turned into ng dictionary entries plus the options the module itself
// acts on.
type parsedFlags struct {
	dict map[string]any // ng keys set by key=value items and lists
	list []any          // the ng "flags" list

	viaBranch   string // "" or 1, 2, auto, extra, next, auto-next, auto-extra
	callID      string // call-id=: another call than the message's
	fromTag     string // from-tag=
	toTag       string // to-tag=
	forceToTag  bool   // to-tag (with or without a value)
	forceAnswer bool
}

// transport bits from RTP, SRTP, AVP and AVPF.
const (
	tRTP = 1 << iota
	tSRTP
	tAVP
	tAVPF
)

// numericKeys are ng keys whose values rtpengine reads as integers.
var numericKeys = map[string]bool{"TOS": true, "delete delay": true, "volume": true, "duration": true,
	"pause": true, "repeat-times": true, "start-pos": true, "frequency": true}

// renamed maps the hyphenated spelling of the module's flags to the ng key.
var renamed = map[string]string{
	"address-family": "address family", "media-address": "media address", "delete-delay": "delete delay",
	"record-call": "record call", "transport-protocol": "transport protocol", "received-from": "received from",
}

var viaBranchValues = map[string]bool{"1": true, "2": true, "auto": true, "extra": true, "next": true,
	"auto-next": true, "auto-extra": true}

// parseFlags parses a flag string; an error names the offending item.
func parseFlags(s string) (*parsedFlags, error) {
	p := &parsedFlags{dict: map[string]any{}}
	var transport int
	var direction []any
	codec := map[string][]any{}
	addList := func(key, v string) {
		l, _ := p.dict[key].([]any)
		p.dict[key] = append(l, v)
	}
	for _, item := range strings.Fields(s) {
		for i := 0; i < len(item); i++ {
			if c := item[i]; c < 0x21 || c == 0x7f {
				return nil, fmt.Errorf("flag %q: control character", item)
			}
		}
		key, val, hasVal := strings.Cut(item, "=")
		if key == "" {
			return nil, fmt.Errorf("flag %q: no name before '='", item)
		}
		if hasVal && val == "" {
			return nil, fmt.Errorf("flag %q: empty value", item)
		}
		lk := strings.ToLower(key)
		switch {
		case !hasVal && (lk == "rtp" || lk == "srtp" || lk == "avp" || lk == "avpf"):
			transport |= map[string]int{"rtp": tRTP, "srtp": tSRTP, "avp": tAVP, "avpf": tAVPF}[lk]
		case !hasVal && strings.Contains(key, "/"):
			p.dict["transport protocol"] = key // RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVP ...
		case !hasVal && (lk == "internal" || lk == "external"):
			direction = append(direction, lk)
		case lk == "direction":
			if !hasVal {
				return nil, fmt.Errorf("flag %q: direction needs an interface name", item)
			}
			direction = append(direction, val)
		case !hasVal && lk == "force-answer":
			p.forceAnswer = true
		case !hasVal && (lk == "force" || lk == "repacketize"), lk == "repacketize":
			// rtpproxy options that rtpengine does not have.
		case lk == "via-branch":
			if !viaBranchValues[val] {
				return nil, fmt.Errorf("flag %q: via-branch is 1, 2, auto, extra, next, auto-next or auto-extra", item)
			}
			p.viaBranch = val
		case lk == "call-id":
			if !hasVal {
				return nil, fmt.Errorf("flag %q: call-id needs a value", item)
			}
			p.callID = val
		case lk == "from-tag":
			if !hasVal {
				return nil, fmt.Errorf("flag %q: from-tag needs a value", item)
			}
			p.fromTag = val
		case lk == "to-tag":
			p.forceToTag, p.toTag = true, val
		case strings.HasPrefix(lk, "replace-") && !hasVal && len(key) > 8:
			addList("replace", key[8:])
		case strings.HasPrefix(lk, "rtcp-mux-") && !hasVal && len(key) > 9:
			addList("rtcp-mux", key[9:])
		case strings.HasPrefix(lk, "sdes-") && !hasVal && len(key) > 5:
			addList("SDES", key[5:])
		case lk == "t.38" || lk == "t38":
			if !hasVal {
				return nil, fmt.Errorf("flag %q: T.38 needs a value (decode, force, stop ...)", item)
			}
			addList("T.38", val)
		case strings.HasPrefix(lk, "codec-"):
			if !hasVal || len(key) == 6 {
				return nil, fmt.Errorf("flag %q: want codec-OPERATION=CODEC", item)
			}
			op := lk[6:]
			codec[op] = append(codec[op], val)
		case lk == "tos":
			n, err := strconv.Atoi(val)
			if !hasVal || err != nil || n < -1 || n > 255 {
				return nil, fmt.Errorf("flag %q: TOS is -1 or 0 to 255", item)
			}
			p.dict["TOS"] = int64(n)
		case lk == "address-family":
			if val != "IP4" && val != "IP6" {
				return nil, fmt.Errorf("flag %q: address-family is IP4 or IP6", item)
			}
			p.dict["address family"] = val
		case lk == "media-address":
			if _, err := netip.ParseAddr(val); err != nil {
				return nil, fmt.Errorf("flag %q: not an IP address", item)
			}
			p.dict["media address"] = val
		case lk == "ice":
			if !hasVal {
				return nil, fmt.Errorf("flag %q: ICE needs a value (remove, force, force-relay ...)", item)
			}
			p.dict["ICE"] = val
		case hasVal:
			k := key
			if r, ok := renamed[lk]; ok {
				k = r
			}
			if numericKeys[k] {
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("flag %q: not a number", item)
				}
				p.dict[k] = n
			} else {
				p.dict[k] = val
			}
		default:
			p.list = append(p.list, key)
		}
	}
	if len(direction) > 2 {
		return nil, fmt.Errorf("flags %q: direction given %d times (at most twice)", s, len(direction))
	}
	if len(direction) > 0 {
		p.dict["direction"] = direction
	}
	if len(codec) > 0 {
		cd := map[string]any{}
		for op, l := range codec {
			cd[op] = l
		}
		p.dict["codec"] = cd
	}
	if transport != 0 {
		if tp, ok := transportProtocol(transport); ok {
			p.dict["transport protocol"] = tp
		} else {
			return nil, fmt.Errorf("flags %q: RTP and SRTP, or AVP and AVPF, together", s)
		}
	}
	return p, nil
}

// transportProtocol combines RTP/SRTP and AVP/AVPF into one protocol name.
func transportProtocol(bits int) (string, bool) {
	if bits&tRTP != 0 && bits&tSRTP != 0 || bits&tAVP != 0 && bits&tAVPF != 0 {
		return "", false
	}
	proto := "RTP/"
	if bits&tSRTP != 0 {
		proto += "S"
	}
	proto += "AVP"
	if bits&tAVPF != 0 {
		proto += "F"
	}
	return proto, true
}
