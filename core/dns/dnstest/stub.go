// Package dnstest runs a small authoritative DNS server on loopback for
// tests: records are given as zone-file lines and can be changed while it
// runs; every question is counted.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"
)

// Stub is a running DNS server.
type Stub struct {
	Addr string // 127.0.0.1:port (UDP and TCP)

	mu      sync.Mutex
	records []mdns.RR
	queries map[string]int
	udp     *mdns.Server
	tcp     *mdns.Server
}

// Start serves the records (zone-file lines such as
// "_sip._udp.example.test. 60 IN SRV 10 50 5060 a.example.test.") until
// the test ends.
func Start(t testing.TB, records ...string) *Stub {
	t.Helper()
	s := &Stub{queries: map[string]int{}}
	s.Set(t, records...)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = &mdns.Server{PacketConn: pc, Handler: s}
	s.tcp = &mdns.Server{Listener: ln, Handler: s}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
	return s
}

// Set replaces the records.
func (s *Stub) Set(t testing.TB, records ...string) {
	t.Helper()
	var rrs []mdns.RR
	for _, r := range records {
		rr, err := mdns.NewRR(r)
		if err != nil {
			t.Fatalf("dns record %q: %v", r, err)
		}
		rrs = append(rrs, rr)
	}
	s.mu.Lock()
	s.records = rrs
	s.mu.Unlock()
}

// Queries is how often name/type ("_sip._udp.example.test. SRV") was asked.
func (s *Stub) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[strings.ToLower(mdns.Fqdn(name))+" "+qtype]
}

// ServeDNS answers from the records: matching name and type, with CNAMEs
// followed; NXDOMAIN when the name has no record at all.
func (s *Stub) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 {
		q := r.Question[0]
		s.mu.Lock()
		s.queries[strings.ToLower(q.Name)+" "+mdns.TypeToString[q.Qtype]]++
		name := q.Name
		known := false
		for hop := 0; hop < 8; hop++ {
			next := ""
			for _, rr := range s.records {
				h := rr.Header()
				if !strings.EqualFold(h.Name, name) {
					continue
				}
				known = true
				if h.Rrtype == q.Qtype {
					m.Answer = append(m.Answer, mdns.Copy(rr))
				} else if c, ok := rr.(*mdns.CNAME); ok {
					m.Answer = append(m.Answer, mdns.Copy(rr))
					next = c.Target
				}
			}
			if next == "" {
				break
			}
			name = next
		}
		s.mu.Unlock()
		if !known {
			m.Rcode = mdns.RcodeNameError
		}
	}
	_ = w.WriteMsg(m)
}
