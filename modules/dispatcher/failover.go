package dispatcher

import (
	"errors"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
)

// extCtx keys the failover state in the message. Kamailio keeps it in the
// _dsdst_ XAVP, which tm saves with the transaction; here a pointer sits in
// the message's Ext map, which tm copies into the transaction's request
// (and from it into every failure route), so every copy shares one state
// and ds_next_dst in a failure route advances it for the next one.
const extCtx = "dispatcher.ctx"

// dsCtx is the failover state of one request.
type dsCtx struct {
	mu   sync.Mutex
	recs []rec // recs[0] is the destination in use
	cnt  int   // destinations the last ds_select* stored
}

func ctxOf(m *msg.Msg, create bool) *dsCtx {
	if c, ok := m.GetExt(extCtx).(*dsCtx); ok {
		return c
	}
	if !create {
		return nil
	}
	c := &dsCtx{}
	m.SetExt(extCtx, c)
	return c
}

// current is the destination in use, if any.
func (c *dsCtx) current() (rec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recs) == 0 {
		return rec{}, false
	}
	return c.recs[0], true
}

// Where a selected address goes.
const (
	modeDst  = 0 // $du
	modeRURI = 1 // host, port and parameters of the R-URI
	modeXAVP = 2 // only the failover list
)

// push sets the message's next hop to dd.
func (d *Dispatcher) push(m *msg.Msg, dd *dest, mode int) error {
	switch mode {
	case modeXAVP:
		return nil
	case modeRURI:
		u, err := domainURI(m, dd.uri)
		if err != nil {
			return err
		}
		if err := m.SetRURI(u); err != nil {
			return err
		}
	default:
		if err := m.SetDst(dd.uri); err != nil {
			return err
		}
	}
	if s := d.sendSocket(dd); s != nil {
		m.ForceSocket = s
	}
	return nil
}

// sendSocket is the open socket dd must be sent from, nil for any.
func (d *Dispatcher) sendSocket(dd *dest) *msg.Socket {
	if dd.sock == nil || d.core == nil {
		return nil
	}
	return dd.sock.get(d.core.TP.Sockets)
}

// domainURI is the R-URI with its host, port, parameters and headers
// replaced by those of the destination (user and password stay), as
// Kamailio's ds_select_domain.
func domainURI(m *msg.Msg, dst string) (string, error) {
	cur := m.RURI()
	if cur == nil {
		return "", errors.New("not a request")
	}
	return withUser(cur, dst), nil
}

// withUser is cur's scheme and user info followed by what dst has after
// its scheme (and after a user part of its own).
func withUser(cur *sip.Uri, dst string) string {
	rest := dst
	if i := strings.IndexByte(dst, ':'); i >= 0 && hasScheme(dst) {
		rest = dst[i+1:]
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	scheme := cur.Scheme
	if scheme == "" {
		scheme = "sip"
	}
	if cur.User == "" {
		return scheme + ":" + rest
	}
	ui := cur.User
	if cur.Password != "" {
		ui += ":" + cur.Password
	}
	return scheme + ":" + ui + "@" + rest
}

// branchURI is the R-URI of a parallel branch to dd in R-URI mode: the
// R-URI user at the destination, or the destination itself without user.
func branchURI(cur *sip.Uri, dst string) string {
	if cur == nil || cur.User == "" {
		return dst
	}
	scheme, rest := "sip", dst
	if i := strings.IndexByte(dst, ':'); i >= 0 && hasScheme(dst) {
		scheme, rest = dst[:i], dst[i+1:]
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + ":" + cur.User + "@" + rest
}

// addBranches appends the parallel branches of algorithm 12 to the
// destination set: with $du (R-URI kept) or as R-URIs.
func (d *Dispatcher) addBranches(m *msg.Msg, ds []*dest, mode int) error {
	for _, dd := range ds {
		b := msg.Branch{Q: -1, Socket: d.sendSocket(dd)}
		if mode == modeRURI {
			b.URI = branchURI(m.RURI(), dd.uri)
		} else {
			b.URI, b.DstURI = m.RURIString(), dd.uri
		}
		if err := msg.CheckValue(b.URI + b.DstURI); err != nil {
			return err
		}
		m.Branches = append(m.Branches, b)
	}
	return nil
}
