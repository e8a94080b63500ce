package usrloc

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// QUnspecified is the q value of a contact registered without one (Kamailio's
// Q_UNSPECIFIED). It sorts below q=0, as in Kamailio.
const QUnspecified = -1

// MethodsAll is the methods mask of a contact whose REGISTER had no Allow
// header: every method is supported.
const MethodsAll uint32 = 0xFFFFFFFF

// Contact flags (Kamailio's FL_* bits of the "flags" column).
const (
	// FlMem marks a contact kept in memory only (save flag 0x01): never
	// written to the database.
	FlMem uint32 = 1 << 0
)

// Contact is one registered binding of an address-of-record.
type Contact struct {
	AOR      string `json:"aor"`
	Addr     string `json:"c"`              // the Contact URI
	Ruid     string `json:"ruid"`           // record unique id
	Received string `json:"rcv,omitempty"`  // source the REGISTER came from (sip:ip:port;transport=x)
	Path     string `json:"path,omitempty"` // Path header values, comma separated
	// Expires is the absolute expiry in unix seconds; 0 means permanent.
	Expires   int64  `json:"exp"`
	Q         int    `json:"q"` // q*1000, QUnspecified when not given
	CallID    string `json:"cid"`
	CSeq      int    `json:"cseq"`
	Flags     uint32 `json:"fl,omitempty"`
	CFlags    uint32 `json:"cfl,omitempty"` // branch flags saved with the contact
	UserAgent string `json:"ua,omitempty"`
	Socket    string `json:"sock,omitempty"` // local socket proto:ip:port
	Methods   uint32 `json:"meth"`
	Instance  string `json:"inst,omitempty"` // +sip.instance
	RegID     int    `json:"regid,omitempty"`
	ServerID  int    `json:"sid,omitempty"`
	ConnID    int64  `json:"conn,omitempty"` // stream connection id, 0 for none
	Keepalive int    `json:"ka,omitempty"`
	// LastModified is the unix time of the last change.
	LastModified int64 `json:"mod"`

	// state is the write-back state shown by ul.dump (CS_NEW, CS_SYNC, CS_DIRTY).
	state cstate
	// seq orders contacts of equal q by insertion; not stored.
	seq uint64
}

type cstate uint8

const (
	csNew cstate = iota
	csSync
	csDirty
)

func (s cstate) String() string {
	switch s {
	case csSync:
		return "CS_SYNC"
	case csDirty:
		return "CS_DIRTY"
	}
	return "CS_NEW"
}

// Valid reports whether the contact is still registered at now (unix seconds).
func (c *Contact) Valid(now int64) bool { return c.Expires == 0 || c.Expires > now }

// ExpiresIn is the number of seconds left (0 for permanent or expired).
func (c *Contact) ExpiresIn(now int64) int64 {
	if c.Expires == 0 || c.Expires <= now {
		return 0
	}
	return c.Expires - now
}

// Same reports whether two values describe the same stored data (the
// write-back and Redis stores compare to skip needless writes).
func (c *Contact) Same(o *Contact) bool {
	a, b := *c, *o
	a.state, b.state, a.seq, b.seq = 0, 0, 0, 0
	return a == b
}

var seqCounter atomic.Uint64

// nextSeq numbers contacts in insertion order.
func nextSeq() uint64 { return seqCounter.Add(1) }

// ruidPrefix makes ruids unique per process start, as Kamailio's sruid does
// ("uloc-<start time>-<pid>-<counter>"); a random part replaces the pid so
// that several nodes sharing one database or Redis never collide.
var (
	ruidPrefix  = newRuidPrefix()
	ruidCounter atomic.Uint64
)

func newRuidPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(time.Now().Unix(), 16) + "-" + hex.EncodeToString(b[:])
}

// NewRuid returns a fresh record unique id with the given prefix ("uloc"
// for registrations, "ulcx" for contacts added over RPC, as in Kamailio).
func NewRuid(prefix string) string {
	return prefix + "-" + ruidPrefix + "-" + strconv.FormatUint(ruidCounter.Add(1), 10)
}

// order sorts contacts the way lookup returns them: by q, highest first,
// in insertion order among equal q; or, with descTime, most recently
// modified first.
func order(cs []Contact, descTime bool) {
	sort.SliceStable(cs, func(i, j int) bool {
		if descTime {
			if cs[i].LastModified != cs[j].LastModified {
				return cs[i].LastModified > cs[j].LastModified
			}
			return cs[i].seq > cs[j].seq
		}
		if cs[i].Q != cs[j].Q {
			return cs[i].Q > cs[j].Q
		}
		return cs[i].seq < cs[j].seq
	})
}

// validOnly returns the contacts still valid at now, in a new slice.
func validOnly(cs []Contact, now int64) []Contact {
	out := make([]Contact, 0, len(cs))
	for _, c := range cs {
		if c.Valid(now) {
			out = append(out, c)
		}
	}
	return out
}
