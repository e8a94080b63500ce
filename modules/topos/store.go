package topos

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Dialog is one topos_d record: what restores the in-dialog requests of a
// dialog in both directions. A is the side that sent the initial request, B
// the side it was sent to.
type Dialog struct {
	ID        string // the random key in our contacts (atpsh-<ID>, btpsh-<ID>)
	CallID    string // a_callid, as A knows it
	ATag      string
	BTag      string
	AContact  string // A's Contact URI: where requests to A go
	BContact  string // B's Contact URI
	AsContact string // our contact A sees (<sip:atpsh-ID@...>)
	BsContact string // our contact B sees (<sip:btpsh-ID@...>)
	ARR       string // Record-Route values on A's side, as in the request (comma-separated)
	BRR       string // Record-Route values on B's side, as in the reply
	SRR       string // our own Record-Route value(s)
	IFlags    int    // 1 once a 2xx confirmed the dialog
	Method    string // s_method of the initial request
	CSeq      string
	Context   string
	Rectime   int64
}

// Branch is one topos_t record: what restores the replies of one request
// this server sent with its topology stripped, keyed by our Via branch.
type Branch struct {
	Key      string // x_vbranch: the branch of our Via
	DialogID string
	FromB    bool   // the request came from B (direction upstream)
	XVia     string // the Via values stripped (comma-separated)
	XRR      string // the Record-Route values the requester sees in replies
	SRR      string // our own Record-Route value(s)
	XContact string // our contact the requester sees in replies
	Pending  string // the requester's new Contact URI (target refresh), kept on a 2xx
	Method   string
	CSeq     string
	Initial  bool // the request created the dialog
	CallID   string
	Context  string
	Rectime  int64
}

// Errors of the stores.
var (
	ErrNotFound    = errors.New("topos: no such record (unknown or expired)")
	ErrUnavailable = errors.New("topos: storage unavailable")
	ErrFull        = errors.New("topos: storage full (max_records)")
)

// Store keeps the records. ns is the context namespace ("" = none). Every
// call is bounded in time by the store itself: the filters call it on the
// path of every message.
type Store interface {
	// CreateInitial stores a new dialog and the branch of its initial
	// request, each living ttl, unless a branch with b.Key exists already
	// (a retransmission sent again statelessly): the dialog id in effect is
	// returned either way.
	CreateInitial(ctx context.Context, ns string, d *Dialog, b *Branch, ttl time.Duration) (string, error)
	// Dialog loads a dialog.
	Dialog(ctx context.Context, ns, id string) (*Dialog, error)
	// Branch loads a branch.
	Branch(ctx context.Context, ns, key string) (*Branch, error)
	// PutBranch stores a branch living ttl; with dialogTTL > 0 the dialog
	// dialogID is set to live dialogTTL from now.
	PutBranch(ctx context.Context, ns string, b *Branch, ttl time.Duration, dialogID string, dialogTTL time.Duration) error
	// UpdateDialog sets fields (column names) of an existing dialog and,
	// with ttl > 0, its lifetime; with branchKey != "" and branchTTL > 0 the
	// branch lifetime too. A dialog that is gone stays gone.
	UpdateDialog(ctx context.Context, ns, id string, fields map[string]string, ttl time.Duration, branchKey string, branchTTL time.Duration) error
	// Close releases the store.
	Close()
}

// Column names, Kamailio's topos_d / topos_t; the x_contact, x_pending and
// x_initial branch columns are luasbc's.
const (
	colRectime   = "rectime"
	colCallID    = "a_callid"
	colAUUID     = "a_uuid"
	colBUUID     = "b_uuid"
	colAContact  = "a_contact"
	colBContact  = "b_contact"
	colAsContact = "as_contact"
	colBsContact = "bs_contact"
	colATag      = "a_tag"
	colBTag      = "b_tag"
	colARR       = "a_rr"
	colBRR       = "b_rr"
	colSRR       = "s_rr"
	colIFlags    = "iflags"
	colMethod    = "s_method"
	colCSeq      = "s_cseq"
	colContext   = "x_context"
	colDirection = "direction"
	colXVia      = "x_via"
	colXBranch   = "x_vbranch"
	colXRR       = "x_rr"
	colXContact  = "x_contact"
	colXPending  = "x_pending"
	colXInitial  = "x_initial"
)

// Directions as Kamailio numbers them.
const (
	dirDownstream = 0 // the request came from A
	dirUpstream   = 1 // the request came from B
)

// fields renders a dialog as column values.
func (d *Dialog) fields() []string {
	return []string{
		colRectime, strconv.FormatInt(d.Rectime, 10),
		colCallID, d.CallID,
		colAUUID, "atpsh-" + d.ID,
		colBUUID, "btpsh-" + d.ID,
		colAContact, d.AContact,
		colBContact, d.BContact,
		colAsContact, d.AsContact,
		colBsContact, d.BsContact,
		colATag, d.ATag,
		colBTag, d.BTag,
		colARR, d.ARR,
		colBRR, d.BRR,
		colSRR, d.SRR,
		colIFlags, strconv.Itoa(d.IFlags),
		colMethod, d.Method,
		colCSeq, d.CSeq,
		colContext, d.Context,
	}
}

// set assigns one column of a dialog; unknown columns are ignored.
func (d *Dialog) set(col, v string) {
	switch col {
	case colRectime:
		d.Rectime, _ = strconv.ParseInt(v, 10, 64)
	case colCallID:
		d.CallID = v
	case colAUUID:
		d.ID = strings.TrimPrefix(v, "atpsh-")
	case colAContact:
		d.AContact = v
	case colBContact:
		d.BContact = v
	case colAsContact:
		d.AsContact = v
	case colBsContact:
		d.BsContact = v
	case colATag:
		d.ATag = v
	case colBTag:
		d.BTag = v
	case colARR:
		d.ARR = v
	case colBRR:
		d.BRR = v
	case colSRR:
		d.SRR = v
	case colIFlags:
		d.IFlags, _ = strconv.Atoi(v)
	case colMethod:
		d.Method = v
	case colCSeq:
		d.CSeq = v
	case colContext:
		d.Context = v
	}
}

// fields renders a branch as column values.
func (b *Branch) fields() []string {
	dir, initial := "0", "0"
	if b.FromB {
		dir = "1"
	}
	if b.Initial {
		initial = "1"
	}
	return []string{
		colRectime, strconv.FormatInt(b.Rectime, 10),
		colCallID, b.CallID,
		colAUUID, "atpsh-" + b.DialogID,
		colBUUID, "btpsh-" + b.DialogID,
		colDirection, dir,
		colXVia, b.XVia,
		colXBranch, b.Key,
		colXRR, b.XRR,
		colSRR, b.SRR,
		colXContact, b.XContact,
		colXPending, b.Pending,
		colMethod, b.Method,
		colCSeq, b.CSeq,
		colXInitial, initial,
		colContext, b.Context,
	}
}

// set assigns one column of a branch.
func (b *Branch) set(col, v string) {
	switch col {
	case colRectime:
		b.Rectime, _ = strconv.ParseInt(v, 10, 64)
	case colCallID:
		b.CallID = v
	case colAUUID:
		b.DialogID = strings.TrimPrefix(v, "atpsh-")
	case colDirection:
		b.FromB = v == "1"
	case colXVia:
		b.XVia = v
	case colXBranch:
		b.Key = v
	case colXRR:
		b.XRR = v
	case colSRR:
		b.SRR = v
	case colXContact:
		b.XContact = v
	case colXPending:
		b.Pending = v
	case colMethod:
		b.Method = v
	case colCSeq:
		b.CSeq = v
	case colXInitial:
		b.Initial = v == "1"
	case colContext:
		b.Context = v
	}
}

// complete reports whether a loaded dialog has what routing needs (a
// record half written by an update after it expired is not one).
func (d *Dialog) complete() bool {
	return d.ID != "" && d.CallID != "" && d.AsContact != "" && d.BsContact != ""
}

// complete reports whether a loaded branch can restore a reply.
func (b *Branch) complete() bool { return b.Key != "" && b.DialogID != "" }
