package usrloc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/rpc"
)

// obj is a JSON object that keeps its key order (Kamailio's RPC output
// order, easier to read than Go's sorted map keys).
type obj []kv

type kv struct {
	k string
	v any
}

// MarshalJSON implements json.Marshaler.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ok is the empty object Kamailio returns for commands without a result.
var ok = obj{}

func notSet(s string) string {
	if s == "" {
		return "[not set]"
	}
	return s
}

// qFloat renders q*1000 as the number Kamailio prints.
func qFloat(q int) float64 {
	if q == QUnspecified {
		return -1
	}
	return float64(q) / 1000
}

// contactObj is one contact as ul.dump and ul.lookup show it.
func (m *Module) contactObj(c *Contact, now int64) obj {
	var exp any
	switch {
	case c.Expires == 0:
		exp = "permanent"
	case c.Expires <= now:
		exp = "expired"
	default:
		exp = c.Expires - now
	}
	conn := int64(-1)
	if c.ConnID > 0 {
		conn = c.ConnID
	}
	lastKA, rtt := c.LastModified, int64(0)
	if r, ok := m.keepaliveOf(c.Ruid); ok {
		lastKA, rtt = r.at.Unix(), r.rtt.Microseconds()
	}
	return obj{{"Contact", obj{
		{"Address", c.Addr}, {"Expires", exp}, {"Q", qFloat(c.Q)}, {"Call-ID", c.CallID}, {"CSeq", c.CSeq},
		{"User-Agent", c.UserAgent}, {"Received", notSet(c.Received)}, {"Path", notSet(c.Path)},
		{"State", c.state.String()}, {"Flags", c.Flags}, {"CFlags", c.CFlags}, {"Socket", notSet(c.Socket)},
		{"Methods", c.Methods}, {"Ruid", c.Ruid}, {"Instance", notSet(c.Instance)}, {"Reg-Id", c.RegID},
		{"Server-Id", c.ServerID}, {"Tcpconn-Id", conn}, {"Keepalive", c.Keepalive},
		{"Last-Keepalive", lastKA}, {"KA-Roundtrip", rtt}, {"Last-Modified", c.LastModified},
	}}}
}

func (m *Module) contactList(cs []Contact, now int64) []obj {
	out := make([]obj, 0, len(cs))
	for i := range cs {
		out = append(out, m.contactObj(&cs[i], now))
	}
	return out
}

// RPC implements kemi.RPCProvider: Kamailio's ul.* commands.
func (m *Module) RPC() []rpc.Method {
	return []rpc.Method{
		{Name: "ul.dump", Params: "[brief]", Doc: "Dump every location table; \"brief\" lists the AoRs only.", Fn: m.rpcDump},
		{Name: "ul.lookup", Params: "table aor", Doc: "Contacts of an AoR.", Fn: m.rpcLookup},
		{Name: "ul.rm", Params: "table aor", Doc: "Delete an AoR with all its contacts.", Fn: m.rpcRm},
		{Name: "ul.rm_contact", Params: "table aor contact", Doc: "Delete one contact of an AoR.", Fn: m.rpcRmContact},
		{Name: "ul.flush", Doc: "Write pending changes to the database now (write-back) and take expired contacts out.", Fn: m.rpcFlush},
		{Name: "ul.add", Params: "table aor contact expires q path flags cflags methods [received [socket]]",
			Doc: "Add or update a contact (expires 0: permanent; path/received/socket \"0\" or \".\": not set).", Fn: m.rpcAdd},
		{Name: "ul.db_users", Params: "table", Doc: "Number of AoRs with unexpired contacts in the database table.",
			Fn: func(ctx context.Context, p rpc.Params) (any, error) { return m.rpcDBCount(ctx, p, true, false) }},
		{Name: "ul.db_contacts", Params: "table", Doc: "Number of unexpired contacts in the database table.",
			Fn: func(ctx context.Context, p rpc.Params) (any, error) { return m.rpcDBCount(ctx, p, false, false) }},
		{Name: "ul.db_expired_contacts", Params: "table", Doc: "Number of expired contacts in the database table.",
			Fn: func(ctx context.Context, p rpc.Params) (any, error) { return m.rpcDBCount(ctx, p, false, true) }},
	}
}

var errParams = rpc.Errorf(500, "Not enough parameters or wrong format")

// rpcAOR normalises an AoR given to an RPC command: without use_domain the
// domain part is ignored, as Kamailio does.
func (m *Module) rpcAOR(aor string) string {
	if !m.s.useDomain {
		if i := strings.LastIndexByte(aor, '@'); i > 0 {
			aor = aor[:i]
		}
	}
	return aor
}

// rpcTable resolves the table and AoR parameters.
func (m *Module) rpcTable(p rpc.Params) (*Domain, string, error) {
	table, ok1 := p.Str(0)
	aor, ok2 := p.Str(1)
	if !ok1 || !ok2 || aor == "" {
		return nil, "", errParams
	}
	d, err := m.Domain(table)
	if err != nil {
		return nil, "", rpc.Errorf(500, "Domain table not found")
	}
	return d, m.rpcAOR(aor), nil
}

func backendErr(err error) error {
	if errors.Is(err, ErrBackend) {
		return rpc.Errorf(500, "Location storage unavailable: %v", err)
	}
	return rpc.Errorf(500, "%v", err)
}

func (m *Module) rpcDump(ctx context.Context, p rpc.Params) (any, error) {
	brief := false
	if s, ok := p.Str(0); ok {
		brief = s == "brief"
	}
	now := unixNow()
	domains := []obj{}
	for _, d := range m.Domains() {
		aors := []obj{}
		records := 0
		err := d.Walk(ctx, func(aor string, cs []Contact) bool {
			records++
			if brief {
				aors = append(aors, obj{{"AoR", aor}})
			} else {
				aors = append(aors, obj{{"Info", obj{{"AoR", aor}, {"HashID", HashAOR(aor)}, {"Contacts", m.contactList(cs, now)}}}})
			}
			return true
		})
		if err != nil {
			return nil, backendErr(err)
		}
		size, most := d.st.slots()
		if size == 0 {
			most = records
		}
		domains = append(domains, obj{{"Domain", obj{{"Domain", d.Name}, {"Size", size}, {"AoRs", aors},
			{"Stats", obj{{"Records", records}, {"Max-Slots", most}}}}}})
	}
	return obj{{"Domains", domains}}, nil
}

func (m *Module) rpcLookup(ctx context.Context, p rpc.Params) (any, error) {
	d, aor, err := m.rpcTable(p)
	if err != nil {
		return nil, err
	}
	cs, err := d.Get(ctx, aor)
	if err != nil {
		return nil, backendErr(err)
	}
	if len(cs) == 0 {
		return nil, rpc.Errorf(500, "AOR not found in location table")
	}
	return obj{{"AoR", aor}, {"Contacts", m.contactList(cs, unixNow())}}, nil
}

func (m *Module) rpcRm(ctx context.Context, p rpc.Params) (any, error) {
	d, aor, err := m.rpcTable(p)
	if err != nil {
		return nil, err
	}
	if _, err := d.Remove(ctx, aor); err != nil {
		return nil, backendErr(err)
	}
	return ok, nil
}

func (m *Module) rpcRmContact(ctx context.Context, p rpc.Params) (any, error) {
	d, aor, err := m.rpcTable(p)
	if err != nil {
		return nil, err
	}
	uri, has := p.Str(2)
	if !has || uri == "" {
		return nil, errParams
	}
	foundAOR, foundContact := false, false
	_, err = d.Update(ctx, aor, func(cur []Contact) ([]Contact, error) {
		foundAOR = len(cur) > 0
		out := cur[:0]
		for _, c := range cur {
			if c.Addr == uri {
				foundContact = true
				continue
			}
			out = append(out, c)
		}
		return out, nil
	})
	switch {
	case err != nil:
		return nil, backendErr(err)
	case !foundAOR:
		return nil, rpc.Errorf(404, "AOR not found")
	case !foundContact:
		return nil, rpc.Errorf(404, "Contact not found")
	}
	return ok, nil
}

func (m *Module) rpcFlush(context.Context, rpc.Params) (any, error) {
	m.Tick()
	return ok, nil
}

// unset reads an optional RPC string where "0" and "." mean not set.
func unset(s string) string {
	if s == "0" || s == "." {
		return ""
	}
	return s
}

func (m *Module) rpcAdd(ctx context.Context, p rpc.Params) (any, error) {
	if p.Len() < 9 {
		return nil, errParams
	}
	d, aor, err := m.rpcTable(p)
	if err != nil {
		return nil, err
	}
	uri, _ := p.Str(2)
	expires, ok1 := p.Int(3)
	qs, _ := p.Str(4)
	path, _ := p.Str(5)
	flags, ok2 := p.Int(6)
	cflags, ok3 := p.Int(7)
	methods, ok4 := p.Str(8)
	q, qerr := strconv.ParseFloat(qs, 64)
	meth, merr := strconv.ParseInt(methods, 10, 64)
	if uri == "" || !ok1 || !ok2 || !ok3 || !ok4 || qerr != nil || merr != nil || expires < 0 ||
		math.IsNaN(q) || q < -1 || q > 1 || meth < math.MinInt32 || meth > math.MaxUint32 {
		return nil, errParams
	}
	received, _ := p.Str(9)
	socket, _ := p.Str(10)
	now := unixNow()
	c := Contact{Addr: uri, Path: unset(path), Q: int(math.Round(q * 1000)), CallID: rpcCallID, CSeq: 1,
		Flags: uint32(flags), CFlags: uint32(cflags), UserAgent: rpcUserAgent, Methods: uint32(meth),
		Received: unset(received), Socket: unset(socket), LastModified: now}
	if expires > 0 {
		c.Expires = now + int64(expires)
	}
	_, err = d.Update(ctx, aor, func(cur []Contact) ([]Contact, error) {
		for i := range cur {
			if cur[i].Addr == uri {
				c.Ruid, c.CSeq, c.seq = cur[i].Ruid, cur[i].CSeq+1, cur[i].seq
				cur[i] = c
				return cur, nil
			}
		}
		c.Ruid = NewRuid("ulcx")
		return append(cur, c), nil
	})
	if err != nil {
		return nil, backendErr(err)
	}
	return ok, nil
}

// The Call-ID and User-Agent of contacts added over RPC.
const (
	rpcCallID    = "ul.add@luasbc.rpc"
	rpcUserAgent = "luasbc SIP Router - RPC Server"
)

func (m *Module) rpcDBCount(ctx context.Context, p rpc.Params, users, expired bool) (any, error) {
	table, has := p.Str(0)
	if !has || table == "" {
		return nil, errParams
	}
	if m.s.dbMode == 0 || m.pool == nil {
		return nil, rpc.Errorf(500, "Command is not supported in db_mode=%d", m.s.dbMode)
	}
	if err := checkTableName(table); err != nil {
		return nil, rpc.Errorf(500, "%v", err)
	}
	n, err := newPGTable(m.pool, table, m.s.cols, m.s.useDomain, m.s.bigint).count(ctx, users, expired)
	if err != nil {
		return nil, rpc.Errorf(500, "Failed to query the database: %v", err)
	}
	return n, nil
}
