package acc

import (
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pgProxy is a TCP proxy in front of the test PostgreSQL that the test can
// cut (an outage: the listener and every connection close, new connections
// are refused) and restore on the same port.
type pgProxy struct {
	t      *testing.T
	target string
	port   int
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	p := &pgProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	p.listen("127.0.0.1:0")
	p.port = p.ln.Addr().(*net.TCPAddr).Port
	t.Cleanup(p.cut)
	return p
}

func (p *pgProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *pgProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// cut closes everything: PostgreSQL is gone for the module.
func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the same port.
func (p *pgProxy) restore() { p.listen("127.0.0.1:" + strconv.Itoa(p.port)) }

// via rewrites a postgres URL to go through the proxy.
func (p *pgProxy) via(pgURL string) string {
	u, err := url.Parse(pgURL)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(p.port)
	return u.String()
}

// hostOf is the host:port of a postgres URL.
func hostOf(t *testing.T, pgURL string) string {
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.Host, ":") {
		return u.Host + ":5432"
	}
	return u.Host
}
