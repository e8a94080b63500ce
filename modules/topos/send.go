package topos

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/modules/topoh/sipraw"
)

// sending strips the topology from a message about to leave
// (core.SendFilter). An initial request keeps only our Via, loses its
// Record-Routes and gets our contact for the callee side; what restores its
// replies and the dialog's requests is stored first — when that fails the
// request is not sent (the script's t_relay fails: 500). An in-dialog
// request restored on the way in is stripped the same way and its branch
// stored. A relayed reply gets the requester side's route set back and our
// contact for that side. Internal headers never leave.
func (x *Topos) sending(o *core.Outgoing) bool {
	m, err := sipraw.Parse(o.Data)
	if err != nil {
		return true
	}
	e := sipraw.NewEdit(m)
	xbranch, _ := nameXBranch.Value(m)
	xuid, _ := nameXUID.Value(m)
	xcontact, _ := nameXContact.Value(m)
	removeInternal(e)
	if x.skipMessage(m) {
		return x.set(o, e)
	}
	ns := x.contextOf(o.M)
	drop, em := x.ev.Outgoing(evOutgoing, "topos:msg-outgoing", o.M, o.To)
	if drop {
		return x.set(o, e)
	}
	if em != nil {
		if s, ok := em.GetExt(extContext).(string); ok && s != "" {
			ns = s
		}
	}
	if x.ev.Enabled(evSending) {
		drop, em := x.ev.Sending(evSending, "topos:msg-sending", e.Bytes(), o.M, o.To)
		if drop {
			return x.set(o, e)
		}
		if em != nil {
			if s, ok := em.GetExt(extContext).(string); ok && s != "" {
				ns = s
			}
		}
	}
	switch {
	case m.Request && m.InDialog():
		return x.sendInDialog(o, m, e, xuid, xcontact)
	case m.Request && (m.Method == "ACK" || m.Method == "CANCEL"):
		// Not built by tm from a stripped request (tm's own never pass
		// here): strip what would show, store nothing.
		x.stripRequest(m, e, "", false)
		x.maskCallID(m, e)
		return x.set(o, e)
	case m.Request:
		return x.sendInitial(o, m, e, ns)
	case o.Local:
		x.sendLocalReply(o, m, e)
		return x.set(o, e)
	default:
		x.sendReply(m, e, xbranch, xcontact)
		return x.set(o, e)
	}
}

// set installs the edit's result as the bytes to send.
func (x *Topos) set(o *core.Outgoing, e *sipraw.Edit) bool {
	if e.Changed() {
		o.Data = e.Bytes()
	}
	return true
}

// viaMark is a parameter our Via gets on the requests whose branch is
// stored: a reply carrying it and no branch record (expired, lost with
// Redis, other context) is dropped rather than relayed unrestored, while
// replies to what other modules send unstripped (dispatcher and nathelper
// keepalives) pass.
const viaMark = "tps"

// stripRequest leaves only our Via (with viaMark when mark is set), no
// Record-Route and (unless the method has none, or contact is "") our
// contact.
func (x *Topos) stripRequest(m *sipraw.Msg, e *sipraw.Edit, contact string, mark bool) {
	first := true
	for i := range m.Hdrs {
		switch m.Hdrs[i].Type {
		case msg.HVia:
			if first {
				first = false
				top := m.Items(msg.HVia)[0].Text
				if mark {
					if _, ok := sipraw.Param(viaParams(top), viaMark); !ok {
						top += ";" + viaMark
					}
				}
				e.Replace(i, "Via: "+top+"\r\n")
			} else {
				e.Remove(i)
			}
		case msg.HRecordRoute:
			e.Remove(i)
		}
	}
	x.setContact(m, e, contact, m.Method)
}

// setContact replaces every Contact with ours (none for methods_nocontact).
func (x *Topos) setContact(m *sipraw.Msg, e *sipraw.Edit, contact, method string) {
	line := ""
	if contact != "" && !x.noContact[strings.ToUpper(method)] {
		line = "Contact: " + contact + "\r\n"
	}
	placed := false
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HContact {
			continue
		}
		if !placed {
			e.Replace(i, line)
			placed = true
		} else {
			e.Remove(i)
		}
	}
	if !placed && line != "" {
		e.Append(line)
	}
}

// maskCallID masks the Call-ID (mask_callid) of a message going to the
// callee side.
func (x *Topos) maskCallID(m *sipraw.Msg, e *sipraw.Edit) {
	if x.th == nil {
		return
	}
	if i := m.First(msg.HCallID); i >= 0 {
		e.Replace(i, m.Hdrs[i].Name+": "+x.th.MaskCallID(m.Hdrs[i].Value)+"\r\n")
	}
}

// sendInitial stores the records of a new dialog and strips the request.
func (x *Topos) sendInitial(o *core.Outgoing, m *sipraw.Msg, e *sipraw.Edit, ns string) bool {
	vias := m.Items(msg.HVia)
	if len(vias) < 2 {
		return x.set(o, e) // generated here: nothing of another side to hide
	}
	key := sipraw.ViaParam(vias[0].Text, "branch")
	if !validBranch(key) {
		x.log.Error("topos: our Via branch cannot key a record; request not sent")
		return false
	}
	own, rest := x.ownRoutes(itemTexts(m.Items(msg.HRecordRoute)))
	bw, ok := whereFromVia(vias[0].Text)
	if len(own) > 0 {
		if w, ok2 := whereFromURI(sipraw.URIOf(own[0])); ok2 {
			bw, ok = w, true
		}
	}
	if !ok {
		return false
	}
	aw := bw
	switch {
	case len(own) == 2:
		if w, ok := whereFromURI(sipraw.URIOf(own[1])); ok {
			aw = w
		}
	case len(own) == 0 && o.M != nil && o.M.Rcv != nil:
		if w, ok := whereFromSocket(o.M.Rcv); ok {
			aw = w
		}
	}
	aContact := sipraw.URIOf(firstItem(m, msg.HContact))
	cseq, method := m.CSeq()
	now := time.Now().Unix()
	id := newID()
	d := &Dialog{ID: id, CallID: m.CallID(), ATag: m.FromTag(), AContact: aContact,
		ARR: strings.Join(rest, ", "), SRR: strings.Join(own, ", "), Method: method, CSeq: cseq, Context: ns, Rectime: now}
	contacts := func(id string) {
		d.AsContact = x.contact('a', id, userOf(m.RURI), aw)
		d.BsContact = x.contact('b', id, userOf(aContact), bw)
	}
	contacts(id)
	b := &Branch{Key: key, DialogID: id, XVia: strings.Join(itemTexts(vias[1:]), ", "), XRR: d.ARR, SRR: d.SRR,
		XContact: d.AsContact, Method: method, CSeq: cseq, Initial: true, CallID: d.CallID, Context: ns, Rectime: now}
	got, err := x.store.CreateInitial(context.Background(), ns, d, b, x.branchExpire)
	if err != nil {
		x.st.storeErr.Inc()
		x.outage.note("storing a new dialog", err)
		return false
	}
	if got != id {
		contacts(got) // a retransmission sent again: the first copy's dialog
	} else {
		x.st.dialogs.Inc()
	}
	x.stripRequest(m, e, d.BsContact, true)
	x.maskCallID(m, e)
	return x.set(o, e)
}

// parseXUID reads "<a|b><id>[;ctx=<ns>]".
func parseXUID(v string) (side byte, id, ns string, ok bool) {
	v = strings.TrimSpace(v)
	main, params, _ := strings.Cut(v, ";")
	if len(main) != 1+idLen || (main[0] != 'a' && main[0] != 'b') || !validID(main[1:]) {
		return 0, "", "", false
	}
	if c, ok := sipraw.Param(";"+params, "ctx"); ok {
		ns = c
	}
	return main[0], main[1:], ns, true
}

// sendInDialog strips an in-dialog request restored on the way in and
// stores its branch (not for ACK: it has no reply).
func (x *Topos) sendInDialog(o *core.Outgoing, m *sipraw.Msg, e *sipraw.Edit, xuid, xcontact string) bool {
	if xuid == "" {
		return x.set(o, e) // not restored by us: nothing stored to hide it with
	}
	side, id, ns, ok := parseXUID(xuid)
	contacts := msg.SplitComma(xcontact)
	if !ok || len(contacts) != 2 {
		return false
	}
	dst, src := contacts[0], contacts[1]
	vias := m.Items(msg.HVia)
	if len(vias) == 0 {
		return false
	}
	orig := sipraw.URIOf(firstItem(m, msg.HContact))
	noReply := m.Method == "ACK" || m.Method == "CANCEL"
	x.stripRequest(m, e, dst, !noReply)
	if side == 'a' {
		x.maskCallID(m, e)
	}
	if noReply {
		return x.set(o, e)
	}
	key := sipraw.ViaParam(vias[0].Text, "branch")
	if !validBranch(key) {
		return false
	}
	cseq, method := m.CSeq()
	b := &Branch{Key: key, DialogID: id, FromB: side == 'b', XVia: strings.Join(itemTexts(vias[1:]), ", "),
		XContact: src, Method: method, CSeq: cseq, CallID: m.CallID(), Context: ns, Rectime: time.Now().Unix()}
	if isTargetRefresh(method) {
		b.Pending = orig
	}
	var dialogTTL time.Duration
	if m.Method == "BYE" {
		dialogTTL = x.branchExpire // the dialog ends: long enough for the BYE's own transaction
	}
	if err := x.store.PutBranch(context.Background(), ns, b, x.branchExpire, id, dialogTTL); err != nil {
		x.st.storeErr.Inc()
		x.outage.note("storing a branch record", err)
		return false
	}
	return x.set(o, e)
}

// parseXBranch reads "<branch>;d=<a|b>;rr=<n>".
func parseXBranch(v string) (fromB bool, keep int, ok bool) {
	_, params, found := strings.Cut(strings.TrimSpace(v), ";")
	if !found {
		return false, 0, false
	}
	d, _ := sipraw.Param(";"+params, "d")
	n, err := strconv.Atoi(func() string { s, _ := sipraw.Param(";"+params, "rr"); return s }())
	if (d != "a" && d != "b") || err != nil || n < 0 {
		return false, 0, false
	}
	return d == "b", n, true
}

// sendReply gives a relayed reply the requester side's route set and our
// contact for that side.
func (x *Topos) sendReply(m *sipraw.Msg, e *sipraw.Edit, xbranch, xcontact string) {
	if xbranch == "" {
		return // not a reply restored by us
	}
	fromB, keep, ok := parseXBranch(xbranch)
	if !ok {
		return
	}
	rr := itemTexts(m.Items(msg.HRecordRoute))
	if keep > len(rr) {
		keep = len(rr)
	}
	kept := rr[len(rr)-keep:]
	placed := false
	for i := range m.Hdrs {
		if m.Hdrs[i].Type != msg.HRecordRoute {
			continue
		}
		if !placed {
			e.Replace(i, headerLines("Record-Route", kept, x.headerMode&2 != 0))
			placed = true
		} else {
			e.Remove(i)
		}
	}
	code := m.Status
	hasContact := m.First(msg.HContact) >= 0
	keepContact := code >= 300 && code < 400 ||
		(code > 100 && code < 200 || code >= 400 && code < 500) && !hasContact
	if !keepContact {
		x.setContact(m, e, xcontact, m.CSeqMethod())
	}
	if fromB {
		x.maskCallID(m, e)
	}
}

// sendLocalReply masks the Call-ID of a local reply to a request that came
// from the callee side with it masked.
func (x *Topos) sendLocalReply(o *core.Outgoing, m *sipraw.Msg, e *sipraw.Edit) {
	if x.th == nil || o.M == nil {
		return
	}
	if v, ok := o.M.Header(hdrXUID); ok && strings.HasPrefix(strings.TrimSpace(v), "b") {
		x.maskCallID(m, e)
	}
}

// viaParams is the parameter part of a Via value.
func viaParams(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[i:]
	}
	return ""
}
