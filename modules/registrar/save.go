package registrar

import (
	"errors"
	"math"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/modules/usrloc"
)

// regRequest is what save takes from a REGISTER.
type regRequest struct {
	aor         string
	aorURI      string // the URI the AoR came from (pub-gruu)
	list        contactList
	callID      string
	cseq        int
	hdrExpires  int64
	path        string
	received    string
	socket      string
	methods     uint32
	ua          string
	cflags      uint32
	flags       int
	q           int   // set_q_override / xavp q; qAbsent when neither
	expOverride int64 // xavp expires; -1 when not set
	maxContacts int
	supported   map[string]bool
	connID      int64
	now         int64
}

// regError is a refused REGISTER: the reply to send and save's return code.
type regError struct {
	code  int
	text  string   // P-Registrar-Error
	hdrs  []string // extra reply headers
	rc    int
	cause error // for the log
}

func (e *regError) Error() string { return e.text }

func refuse(code int, text string) *regError { return &regError{code: code, text: text, rc: -1} }

// outcome counts what a save did, for its return code.
type outcome struct{ inserted, updated, deleted int }

func (o *outcome) rc() int {
	switch {
	case o.inserted > 0:
		return 1
	case o.updated > 0:
		return 2
	case o.deleted > 0:
		return 3
	}
	return 1
}

// uaNone is what Kamailio saves for a REGISTER without User-Agent.
const uaNone = "n/a"

// maxUA bounds the saved User-Agent (the column is VARCHAR(255)).
const maxUA = 255

// save is KSR.registrar.save / save_uri.
func (r *Registrar) save(c *kemi.Ctx, table string, flags int, uri string) int {
	m := c.M
	if m == nil || m.Req == nil {
		c.Logger().Error("registrar: save needs a request")
		return -1
	}
	ul, d := r.domain(c, table)
	if d == nil {
		return -1
	}
	req, rerr := r.readRegister(c, ul, flags, uri)
	if rerr != nil {
		return r.refused(c, rerr, nil, flags)
	}
	ctx := c.Context()
	if !req.list.Star && len(req.list.Contacts) == 0 {
		// A query (RFC 3261 §10.3 step 6): answer with the bindings.
		cs, err := d.Get(ctx, req.aor)
		if err != nil {
			return r.refused(c, r.storageError(err), nil, flags)
		}
		r.accepted.Inc()
		r.reply(c, r.okReply(req, cs), flags)
		return 4
	}
	var out outcome
	var before []usrloc.Contact
	cs, err := d.Update(ctx, req.aor, func(cur []usrloc.Contact) ([]usrloc.Contact, error) {
		before = append(before[:0], cur...)
		out = outcome{}
		return r.apply(req, cur, ul, &out)
	})
	if err != nil {
		var re *regError
		if !errors.As(err, &re) {
			re = r.storageError(err)
		}
		return r.refused(c, re, before, flags)
	}
	r.accepted.Inc()
	r.reply(c, r.okReply(req, cs), flags)
	if req.list.Star {
		return 3
	}
	return out.rc()
}

func (r *Registrar) storageError(err error) *regError {
	re := refuse(500, "Location storage error")
	re.cause = err
	return re
}

// refused answers a refused REGISTER (unless flag 0x02) and returns save's code.
func (r *Registrar) refused(c *kemi.Ctx, re *regError, cur []usrloc.Contact, flags int) int {
	r.rejected.Inc()
	if re.cause != nil && !errors.Is(re.cause, usrloc.ErrBackend) {
		c.Logger().Error("registrar: save failed", zap.Error(re.cause))
	} else {
		c.Logger().Debug("registrar: REGISTER refused", zap.Int("code", re.code), zap.String("reason", re.text))
	}
	r.reply(c, r.errorReply(re, cur), flags)
	return re.rc
}

// readRegister checks a REGISTER and collects what save stores.
func (r *Registrar) readRegister(c *kemi.Ctx, ul *usrloc.Module, flags int, uri string) (*regRequest, *regError) {
	m := c.M
	req := &regRequest{flags: flags, q: qAbsent, expOverride: -1, maxContacts: r.cfg.maxContacts,
		now: unixNow(), cflags: uint32(m.BFlags), supported: optionTags(m, msg.HSupported)}
	if uri == "" {
		to := m.SIP.To()
		if to == nil {
			return nil, refuse(400, "To header not found")
		}
		uri = to.Address.String()
	}
	aor, err := r.aorFromString(uri, ul.UseDomain())
	if err != nil {
		if errors.Is(err, errAORLen) {
			return nil, refuse(500, "Address Of Record too long")
		}
		return nil, refuse(400, "Error while parsing AOR")
	}
	req.aor, req.aorURI = aor, uri
	if req.callID = m.CallID(); req.callID == "" {
		return nil, refuse(400, "Call-ID header not found")
	}
	if len(req.callID) > 255 {
		return nil, refuse(400, "Callid too long")
	}
	cs := m.SIP.CSeq()
	if cs == nil || cs.SeqNo > math.MaxInt32 {
		return nil, refuse(400, "Invalid CSeq number")
	}
	req.cseq = int(cs.SeqNo)
	if req.list, err = parseContacts(m.Headers("Contact")); err != nil {
		return nil, refuse(400, "Contact parse error: "+err.Error())
	}
	req.hdrExpires = expiresHeader(m)
	if req.list.Star && req.hdrExpires != 0 {
		return nil, refuse(400, "Expires must be 0 for star contact")
	}
	if re := r.checkOutbound(m, req); re != nil {
		return nil, re
	}
	if re := r.readPath(m, req); re != nil {
		return nil, re
	}
	if re := r.readReceived(c, req); re != nil {
		return nil, re
	}
	req.socket = r.socketOf(c, m)
	req.methods = usrloc.MethodsAll
	if mask, ok := allowMask(m); ok {
		req.methods = mask
	}
	req.ua = uaNone
	if ua, ok := m.HeaderType(msg.HUserAgent); ok && ua != "" {
		req.ua = truncate(unfold(ua), maxUA)
	}
	if m.Proto.Stream() {
		req.connID = int64(m.ConnID)
	}
	if q, ok := m.GetExt(extQOverride).(int); ok {
		req.q = q
	}
	r.readXavpCfg(c, req)
	return req, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// apply is the core of save (RFC 3261 §10.3 steps 6-8) on the AoR's
// current valid contacts: it matches each contact of the request to a
// binding, checks Call-ID/CSeq ordering, removes (expires 0), refreshes or
// adds, and enforces max_contacts.
func (r *Registrar) apply(req *regRequest, cur []usrloc.Contact, ul *usrloc.Module, out *outcome) ([]usrloc.Contact, error) {
	if req.list.Star {
		out.deleted = len(cur)
		return nil, nil
	}
	next := cur
	touched := map[string]bool{}
	for i := range req.list.Contacts {
		spec := &req.list.Contacts[i]
		switch {
		case spec.QBad:
			return nil, refuse(400, "Invalid q param in contact")
		case spec.RegIDBad:
			return nil, refuse(400, "Invalid reg-id param in contact")
		case len(spec.URI) > r.cfg.contactMaxSize:
			return nil, refuse(400, "Contact/received too long")
		}
		e, tooBrief := r.expiresFor(spec, req.hdrExpires, req.flags, req.expOverride)
		if tooBrief {
			re := refuse(423, "Interval too brief")
			re.hdrs = []string{"Min-Expires: " + itoa(r.cfg.minExpires) + "\r\n"}
			return nil, re
		}
		idx := match(next, spec, req, ul.MatchingMode())
		if idx < 0 {
			if e == 0 {
				continue // removing a binding that does not exist
			}
			nc := usrloc.Contact{Ruid: usrloc.NewRuid("uloc")}
			r.fill(&nc, spec, req, e)
			next = append(next, nc)
			touched[nc.Ruid] = true
			out.inserted++
			continue
		}
		old := &next[idx]
		if old.CallID == req.callID {
			if req.cseq < old.CSeq {
				return nil, refuse(400, "Invalid CSeq number")
			}
			if req.cseq == old.CSeq {
				// A retransmission within cseq_delay is answered as the
				// original was, without a change.
				if d := int64(ul.CSeqDelay()); d > 0 && req.now-old.LastModified <= d {
					touched[old.Ruid] = true
					continue
				}
				return nil, refuse(400, "Invalid CSeq number")
			}
		}
		if e == 0 {
			next = append(next[:idx], next[idx+1:]...)
			out.deleted++
			continue
		}
		r.fill(old, spec, req, e)
		touched[old.Ruid] = true
		out.updated++
	}
	if req.flags&saveOneAoR != 0 {
		kept := next[:0]
		for _, c := range next {
			if touched[c.Ruid] {
				kept = append(kept, c)
			} else {
				out.deleted++
			}
		}
		next = kept
	}
	if req.maxContacts > 0 && len(next) > req.maxContacts {
		re := refuse(503, "Too many registered contacts")
		re.rc = -2
		return nil, re
	}
	return next, nil
}

// match finds the binding a contact of the request refers to: by
// +sip.instance and reg-id when the contact has an instance (RFC 5626), else
// by usrloc's matching_mode: 0 contact URI, 1 URI and Call-ID, 2 URI and
// Path, 3 Call-ID.
func match(cs []usrloc.Contact, spec *contactSpec, req *regRequest, mode int) int {
	if spec.Instance != "" {
		for i := range cs {
			if cs[i].Instance == spec.Instance && cs[i].RegID == spec.RegID {
				return i
			}
		}
	}
	for i := range cs {
		c := &cs[i]
		if spec.Instance != "" && c.Instance != "" {
			continue // another flow of an instance is never a URI match
		}
		switch mode {
		case 1:
			if c.Addr == spec.URI && c.CallID == req.callID {
				return i
			}
		case 2:
			if c.Addr == spec.URI && c.Path == req.path {
				return i
			}
		case 3:
			if c.CallID == req.callID {
				return i
			}
		default:
			if c.Addr == spec.URI {
				return i
			}
		}
	}
	return -1
}

// fill writes what a REGISTER says about one binding.
func (r *Registrar) fill(c *usrloc.Contact, spec *contactSpec, req *regRequest, e int64) {
	q := spec.Q
	switch {
	case req.q != qAbsent:
		q = req.q
	case q == qAbsent:
		q = r.cfg.defaultQ
	}
	c.Addr = spec.URI
	c.Expires = req.now + e
	c.Q = q
	c.CallID = req.callID
	c.CSeq = req.cseq
	c.Received = req.received
	c.Path = req.path
	c.UserAgent = req.ua
	c.Socket = req.socket
	c.Methods = req.methods
	c.Instance = spec.Instance
	c.RegID = spec.RegID
	c.CFlags = req.cflags
	c.Flags = 0
	if req.flags&saveMemOnly != 0 {
		c.Flags = usrloc.FlMem
	}
	c.ConnID = req.connID
	c.LastModified = req.now
}
