package tm

import (
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/luasbc/luasbc/core/msg"
)

// branchPrefix starts the Via branch of every request tm sends; the rest is
// the transaction id and the branch index ("z9hG4bKtm<id>.<idx>"), so a reply
// finds its branch without a search.
const branchPrefix = "z9hG4bKtm"

// bstate is where a client transaction (branch) is.
type bstate uint8

const (
	bCalling    bstate = iota // sent, nothing heard yet
	bProceeding               // a provisional reply arrived
	bCompleted                // a final reply arrived, or one was made up locally
)

// cancelState tracks CANCEL on one branch.
type cancelState uint8

const (
	cancelNone    cancelState = iota
	cancelPending             // wanted, waiting for a provisional (RFC 3261 §9.1)
	cancelSent
)

// Branch is one client transaction: a copy of the request sent to one
// destination, with its timers and the replies it got.
type Branch struct {
	t     *Transaction
	idx   int
	id    string // our Via branch value
	via   string // our complete Via value
	uri   string // Request-URI sent
	dst   string // $du used ("" = the R-URI)
	proto msg.Proto
	addr  netip.AddrPort
	sock  *msg.Socket
	conn  uint64 // stream connection used, 0 for UDP
	req   []byte // the request as sent (retransmissions)
	// routes are the Route header lines sent, copied into CANCEL and ACK.
	routes string

	state       bstate
	code        int      // last reply code (received or local), 0 none
	reply       *msg.Msg // final reply received; nil when local or none
	local       bool     // final status made up here (timeout, cancel, send error)
	localReason string
	timedOut    bool
	replied     bool // some reply was received
	cancel      cancelState
	cancelRq    []byte
	// cancelReason is the Reason header value for a CANCEL sent once a
	// provisional reply allows it.
	cancelReason string
	bflags       msg.Flags

	retr    *time.Timer
	retrIvl time.Duration
	fr      *time.Timer
	frAt    time.Time
}

// final reports whether the branch has its final answer.
func (b *Branch) final() bool { return b.state == bCompleted }

// Transaction is a server transaction and the client transactions (branches)
// created for it.
type Transaction struct {
	mu  sync.Mutex
	tm  *TM
	key string // server transaction match key
	id  string
	// req is a private copy of the request as the request route left it at
	// t_relay/t_newtran; failure routes start from it.
	req     *msg.Msg
	method  string
	invite  bool
	created time.Time
	// callID and cseqNum outlive req, which goes once the transaction has
	// completed (tmx looks transactions up by them).
	callID, cseqNum string

	// Where replies go upstream.
	rplProto  msg.Proto
	rplDst    netip.AddrPort
	rplConn   uint64
	rplSock   *msg.Socket
	noConnect bool
	closeConn bool

	status    int    // last reply code sent upstream
	final     bool   // a final reply was sent upstream
	lastReply []byte // for request retransmissions
	toTag     string // To-tag of local replies
	acked     bool
	canceled  bool
	cancelHdr string // Reason header of the CANCEL (e2e_cancel_reason)

	onFailure, onReply, onBranch, onBranchFailure string
	tmFlags                                       int

	frTimeout, frInvTimeout time.Duration
	t1, t2                  time.Duration
	maxLife                 time.Duration
	noAuto100               bool
	noInternalReply         bool
	disable6xx              bool
	noE2ECancelReason       bool
	dropMode                string // t_drop_replies for the next failure route

	branches  []*Branch
	stepStart int // first branch of the current serial forking step
	inFailure bool
	picked    int // index of the winning branch in the last failure route, -1 none
	lastRpl   *msg.Msg
	lastCode  int

	uasRetr    *time.Timer // Timer G: final reply retransmission until ACK
	uasRetrIvl time.Duration
	uasGiveUp  time.Time
	life       *time.Timer
	wait       *time.Timer
	removed    bool
}

// table indexes transactions by server match key and by id.
type table struct {
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	mu    sync.Mutex
	byKey map[string]*Transaction
	byID  map[string]*Transaction
}

func newTable() *table {
	tb := &table{seed: maphash.MakeSeed()}
	for i := range tb.shards {
		tb.shards[i].byKey = map[string]*Transaction{}
		tb.shards[i].byID = map[string]*Transaction{}
	}
	return tb
}

func (tb *table) shard(s string) *shard {
	return &tb.shards[maphash.String(tb.seed, s)%uint64(len(tb.shards))]
}

// lookup finds a transaction by server match key.
func (tb *table) lookup(key string) *Transaction {
	sh := tb.shard(key)
	sh.mu.Lock()
	t := sh.byKey[key]
	sh.mu.Unlock()
	return t
}

// byID finds a transaction by the id in our Via branches.
func (tb *table) byID(id string) *Transaction {
	sh := tb.shard("#" + id)
	sh.mu.Lock()
	t := sh.byID[id]
	sh.mu.Unlock()
	return t
}

// insert adds t unless its key is taken; it returns the one that holds the key.
func (tb *table) insert(t *Transaction) (*Transaction, bool) {
	sh := tb.shard(t.key)
	sh.mu.Lock()
	if old, ok := sh.byKey[t.key]; ok {
		sh.mu.Unlock()
		return old, false
	}
	sh.byKey[t.key] = t
	sh.mu.Unlock()
	ish := tb.shard("#" + t.id)
	ish.mu.Lock()
	ish.byID[t.id] = t
	ish.mu.Unlock()
	return t, true
}

func (tb *table) remove(t *Transaction) {
	sh := tb.shard(t.key)
	sh.mu.Lock()
	if sh.byKey[t.key] == t {
		delete(sh.byKey, t.key)
	}
	sh.mu.Unlock()
	ish := tb.shard("#" + t.id)
	ish.mu.Lock()
	if ish.byID[t.id] == t {
		delete(ish.byID, t.id)
	}
	ish.mu.Unlock()
}

func (tb *table) count() int {
	n := 0
	for i := range tb.shards {
		sh := &tb.shards[i]
		sh.mu.Lock()
		n += len(sh.byKey)
		sh.mu.Unlock()
	}
	return n
}

// all returns a snapshot of the transactions (RPC, shutdown).
func (tb *table) all() []*Transaction {
	var out []*Transaction
	for i := range tb.shards {
		sh := &tb.shards[i]
		sh.mu.Lock()
		for _, t := range sh.byKey {
			out = append(out, t)
		}
		sh.mu.Unlock()
	}
	return out
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// matchKey is the RFC 3261 §17.2.3 server transaction key of request m for
// method (ACK and CANCEL are matched against "INVITE" by the caller): the
// top Via branch, sent-by and method; RFC 2543 requests without the magic
// cookie fall back to Call-ID, CSeq number, From tag, R-URI and top Via.
func matchKey(m *msg.Msg, method string) string {
	v := m.TopVia()
	if v == nil {
		return ""
	}
	br, _ := v.Params.Get("branch")
	sentBy := strings.ToLower(v.Host) + ":" + strconv.Itoa(v.Port)
	if strings.HasPrefix(br, "z9hG4bK") && len(br) > 7 {
		return br + "|" + sentBy + "|" + method
	}
	var b strings.Builder
	b.WriteString("2543|")
	b.WriteString(m.CallID())
	b.WriteByte('|')
	if cs := m.SIP.CSeq(); cs != nil {
		b.WriteString(strconv.FormatUint(uint64(cs.SeqNo), 10))
	}
	b.WriteByte('|')
	if f := m.SIP.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		b.WriteString(tag)
	}
	b.WriteByte('|')
	b.WriteString(m.OrigRURIString())
	b.WriteByte('|')
	b.WriteString(sentBy)
	b.WriteByte('|')
	b.WriteString(br)
	b.WriteByte('|')
	b.WriteString(method)
	return b.String()
}

// parseBranch splits one of our branch values into transaction id and index.
func parseBranch(br string) (string, int, bool) {
	if !strings.HasPrefix(br, branchPrefix) {
		return "", 0, false
	}
	rest := br[len(branchPrefix):]
	dot := strings.IndexByte(rest, '.')
	if dot <= 0 {
		return "", 0, false
	}
	idx, err := strconv.Atoi(rest[dot+1:])
	if err != nil || idx < 0 || idx > 1024 {
		return "", 0, false
	}
	return rest[:dot], idx, true
}
