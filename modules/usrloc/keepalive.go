package usrloc

import (
	"context"
	"sync"
	"time"

	"github.com/luasbc/luasbc/modules/nathelper"
)

// Keepalives: nathelper sends the NAT pings (natping_interval) to the
// contacts usrloc lists, reports the replies, and reports a contact that
// stopped answering (keepalive_timeout), which usrloc then removes as if it
// had expired. usrloc implements nathelper.ContactSource and KeepaliveSink.

var (
	_ nathelper.ContactSource = (*Module)(nil)
	_ nathelper.KeepaliveSink = (*Module)(nil)
)

// kaState is what usrloc knows of one contact's keepalives.
type kaState struct {
	mu   sync.Mutex
	refs map[string]connRef // ruid -> its table and AoR, from the last listing
	last map[string]kaReply // ruid -> last reply
}

type kaReply struct {
	at  time.Time
	rtt time.Duration
}

// KeepaliveContacts implements nathelper.ContactSource: every valid contact
// of every table, or with natOnly those saved with nat_bflag. With Redis a
// node lists only the contacts registered through one of its own sockets,
// so that the nodes sharing a location do not all ping every contact.
func (m *Module) KeepaliveContacts(ctx context.Context, natOnly bool) ([]nathelper.PingTarget, error) {
	if natOnly && m.s.natBFlag < 0 {
		return nil, nil
	}
	now := unixNow()
	refs := map[string]connRef{}
	var out []nathelper.PingTarget
	for _, d := range m.Domains() {
		err := d.Walk(ctx, func(aor string, cs []Contact) bool {
			for _, c := range cs {
				if !c.Valid(now) || natOnly && c.CFlags&(1<<uint(m.s.natBFlag)) == 0 {
					continue
				}
				if m.s.redis && !m.ownSocket(c.Socket) {
					continue
				}
				refs[c.Ruid] = connRef{d, aor}
				out = append(out, nathelper.PingTarget{AOR: aor, Contact: c.Addr, Received: c.Received, Path: c.Path,
					Socket: c.Socket, CFlags: c.CFlags, Ruid: c.Ruid})
			}
			return true
		})
		if err != nil {
			return out, err
		}
	}
	m.ka.mu.Lock()
	m.ka.refs = refs
	for ruid := range m.ka.last {
		if _, ok := refs[ruid]; !ok {
			delete(m.ka.last, ruid)
		}
	}
	m.ka.mu.Unlock()
	return out, nil
}

// KeepaliveReply implements nathelper.KeepaliveSink: ul.dump shows the last
// reply time and round trip.
func (m *Module) KeepaliveReply(ruid string, rtt time.Duration) {
	m.ka.mu.Lock()
	if m.ka.last == nil {
		m.ka.last = map[string]kaReply{}
	}
	m.ka.last[ruid] = kaReply{at: time.Now(), rtt: rtt}
	m.ka.mu.Unlock()
}

// KeepaliveExpired implements nathelper.KeepaliveSink: the contact stopped
// answering keepalives and is removed as if it had expired (the
// usrloc:contact-expired event runs for it).
func (m *Module) KeepaliveExpired(ruid string) {
	m.ka.mu.Lock()
	ref, ok := m.ka.refs[ruid]
	delete(m.ka.last, ruid)
	m.ka.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.s.redisTimeout+2*time.Second)
	defer cancel()
	var gone *Contact
	_, err := ref.d.Update(ctx, ref.aor, func(cur []Contact) ([]Contact, error) {
		out := cur[:0]
		for _, c := range cur {
			if c.Ruid == ruid {
				gone = &c
				continue
			}
			out = append(out, c)
		}
		return out, nil
	})
	if err != nil || gone == nil {
		return
	}
	ref.d.expired.Inc()
	m.mu.Lock()
	cbs := append([]func(*Domain, Contact){}, m.onExpired...)
	m.mu.Unlock()
	for _, f := range cbs {
		f(ref.d, *gone)
	}
}

// keepaliveOf is the last keepalive reply of a contact (ul.dump).
func (m *Module) keepaliveOf(ruid string) (kaReply, bool) {
	m.ka.mu.Lock()
	defer m.ka.mu.Unlock()
	r, ok := m.ka.last[ruid]
	return r, ok
}
