package core

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/transport"
)

// Load shedding: when the queue is full a new request gets 503 + Retry-After
// and everything else is dropped. A retransmission must not get a 503 for a
// request that is already queued, nor a second 503, so the keys of requests
// accepted while the queue is filling up, and of those answered 503, are
// remembered for a while (longer than Timer B/F, 32 s, in two halves).

// shedWatermark is the queue fill (in 1/8ths) from which accepted requests
// are remembered; below it the queue drains long before a retransmission
// (T1 = 500 ms) could arrive, and the hot path stays free of the memo.
const shedWatermark = 4

func (c *Core) deliver(p transport.Packet) {
	// Read before queueing: once queued, a worker may already own p.Data.
	filling := len(c.queue)*8 >= cap(c.queue)*shedWatermark
	key := ""
	if filling {
		key = requestKey(p)
	}
	c.order.queued(p.ConnID) // before a worker can take it
	select {
	case c.queue <- p:
		if key != "" {
			c.shed.seen(key)
		}
	default:
		if c.order.done(p.ConnID) {
			c.notifyClosed(p.ConnID)
		}
		if !filling {
			key = requestKey(p)
		}
		c.shedPacket(p, key)
	}
}

func (c *Core) shedPacket(p transport.Packet, key string) {
	if key == "" || c.shed.seen(key) {
		c.st.shedDrop.Inc()
		return
	}
	m, err := msg.Parse(p.Data, p.Src, p.Sock, p.Sock.Proto)
	if err != nil || m.Req == nil || m.Req.Method == sip.ACK || m.Req.Method == sip.CANCEL {
		c.st.shedDrop.Inc()
		return
	}
	c.st.shedReq.Inc()
	m.ConnID = p.ConnID
	c.SendReply(m, msg.ReplyOpts{Code: 503, Reason: "Service Unavailable",
		Headers: []string{"Retry-After: " + strconv.Itoa(c.Cfg.Core.RetryAfter) + "\r\n"}})
}

// requestKey identifies a request across retransmissions from its raw bytes
// without parsing it: source address plus the top Via branch. "" for replies
// and for requests without a branch.
func requestKey(p transport.Packet) string {
	d := p.Data
	if bytes.HasPrefix(d, []byte("SIP/")) {
		return ""
	}
	b := topViaBranch(d)
	if b == "" {
		return ""
	}
	return p.Src.String() + "|" + b
}

// topViaBranch finds the branch parameter of the first Via header line.
func topViaBranch(d []byte) string {
	end := bytes.Index(d, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(d)
	}
	d = d[:end]
	for {
		nl := bytes.Index(d, []byte("\r\n"))
		if nl < 0 {
			return ""
		}
		d = d[nl+2:]
		line := d
		if e := bytes.Index(line, []byte("\r\n")); e >= 0 {
			line = line[:e]
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		if !bytes.EqualFold(name, []byte("via")) && !bytes.EqualFold(name, []byte("v")) {
			continue
		}
		i := indexASCIIFold(line, "branch=")
		if i < 0 {
			return ""
		}
		v := line[i+len("branch="):]
		if j := bytes.IndexAny(v, ";, \t\r\n"); j >= 0 {
			v = v[:j]
		}
		return string(v)
	}
}

// shedMemo is a set of request keys that forgets entries after 16-32 s.
type shedMemo struct {
	mu   sync.Mutex
	cur  map[string]struct{}
	prev map[string]struct{}
	at   time.Time
}

// seen reports whether key was added before, and adds it.
func (s *shedMemo) seen(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.cur == nil || now.Sub(s.at) > 16*time.Second || len(s.cur) > 50000 {
		s.prev, s.cur, s.at = s.cur, map[string]struct{}{}, now
	}
	if _, ok := s.cur[key]; ok {
		return true
	}
	if _, ok := s.prev[key]; ok {
		return true
	}
	s.cur[key] = struct{}{}
	return false
}

// indexASCIIFold is bytes.Index ignoring ASCII case; unlike searching a
// bytes.ToLower copy, offsets stay valid whatever non-UTF-8 bytes d holds.
func indexASCIIFold(d []byte, lower string) int {
	for i := 0; i+len(lower) <= len(d); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := d[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return i
		}
	}
	return -1
}
