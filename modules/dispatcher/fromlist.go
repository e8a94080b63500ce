package dispatcher

import (
	"context"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// Match modes of ds_is_from_list_mode (bits).
const (
	matchNoPort  = 1  // any port
	matchNoProto = 2  // any transport
	matchActive  = 4  // the destination must be active
	matchSocket  = 8  // a destination with a socket must have it as receiving socket
	matchBest    = 16 // score port, transport and socket; the best match wins
)

// Match scores of matchBest.
const (
	scoreAddr  = 1
	scorePort  = 2
	scoreProto = 4
	scoreSock  = 8
	scoreAll   = scoreAddr | scorePort | scoreProto | scoreSock
)

// isFromList is ds_is_from_list*: does the source address (or the address
// of uri) belong to a destination of set (-1: any set)? The address must be
// equal; the port too unless the destination URI has none or mode ignores
// it; the transport (the URI's transport= parameter) unless mode ignores it.
// On a match the set id (only when searching all sets) and the attributes
// go to setid_pvname and attrs_pvname.
func (d *Dispatcher) isFromList(c *kemi.Ctx, setid int, uri string, mode int) int {
	m := c.M
	if m == nil {
		return -1
	}
	var ip netip.Addr
	var port int
	var proto msg.Proto
	if uri == "" {
		ip, port, proto = m.Src.Addr().Unmap(), int(m.Src.Port()), m.Proto
	} else {
		u := &sip.Uri{}
		if err := sip.ParseUri(uri, u); err != nil || u.Host == "" || len(u.Host) > maxHostLen {
			c.Logger().Info("ds_is_from_list: bad URI", zap.String("uri", uri))
			return -1
		}
		var err error
		if proto, err = uriProto(u); err != nil {
			return -1
		}
		port = u.Port
		if ip, err = d.hostAddr(c.Context(), u.Host); err != nil {
			c.Logger().Info("ds_is_from_list", zap.Error(err))
			return -1
		}
	}
	t := d.tab.Load()
	sets := t.order
	if setid != -1 {
		s := t.set(setid)
		if s == nil {
			return -1
		}
		sets = []*set{s}
	}
	var best *dest
	var bestSet *set
	bestScore := 0
	for _, s := range sets {
		for _, dd := range s.dests {
			if dd.flags&flagNoDNS != 0 {
				continue
			}
			dip, ok := d.matchAddr(c.Context(), dd)
			if !ok || dip != ip {
				continue
			}
			portOK := mode&matchNoPort != 0 || dd.port == 0 || dd.port == port
			protoOK := mode&matchNoProto != 0 || dd.proto == proto
			if mode&matchBest == 0 && (!portOK || !protoOK) {
				continue
			}
			if mode&matchActive != 0 && skipped(dd.state.Load()) {
				continue
			}
			sock := d.sendSocket(dd)
			if mode&matchSocket != 0 && dd.sock != nil && sock != m.Rcv {
				continue
			}
			if mode&matchBest == 0 {
				return d.setMatchVars(c, s, dd, setid == -1)
			}
			score := scoreAddr
			if dd.port != 0 && dd.port == port {
				score |= scorePort
			}
			if dd.proto != msg.ProtoNone && dd.proto == proto {
				score |= scoreProto
			}
			if dd.sock != nil && sock == m.Rcv {
				score |= scoreSock
			}
			if score == scoreAll {
				return d.setMatchVars(c, s, dd, setid == -1)
			}
			if score > bestScore {
				best, bestSet, bestScore = dd, s, score
			}
		}
	}
	if best != nil {
		return d.setMatchVars(c, bestSet, best, setid == -1)
	}
	return -1
}

// matchAddr is the address a destination is matched by: resolved at load,
// or now with ds_dns_mode 2.
func (d *Dispatcher) matchAddr(ctx context.Context, dd *dest) (netip.Addr, bool) {
	if d.cfg.dnsMode&dnsAtMatch == 0 {
		return dd.addr()
	}
	ip, err := d.hostAddr(ctx, dd.host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip, true
}

// hostAddr is a URI host as an address, looked up when it is a name.
func (d *Dispatcher) hostAddr(ctx context.Context, host string) (netip.Addr, error) {
	h := strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap(), nil
	}
	return d.lookup(ctx, h)
}

// setMatchVars stores the set id (when searching every set) and the
// attributes of the match in setid_pvname / attrs_pvname. 1, or -2 / -3 as
// Kamailio when a PV cannot be set.
func (d *Dispatcher) setMatchVars(c *kemi.Ctx, s *set, dd *dest, withSet bool) int {
	if withSet && d.cfg.setidPV != "" {
		if err := c.SetPV(d.cfg.setidPV, kemi.IntV(s.id)); err != nil {
			c.Logger().Warn("dispatcher: setid_pvname", zap.Error(err))
			return -2
		}
	}
	if d.cfg.attrsPV != "" && dd.attrs.body != "" {
		if err := c.SetPV(d.cfg.attrsPV, kemi.StrV(dd.attrs.body)); err != nil {
			c.Logger().Warn("dispatcher: attrs_pvname", zap.Error(err))
			return -3
		}
	}
	return 1
}
