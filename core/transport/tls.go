package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// TLSProfile is one block of TLS settings, as a profile of Kamailio's
// tls.cfg ("[server:default]", "[server:10.0.0.1:5061]", "[client:default]").
type TLSProfile struct {
	Server bool           // a server profile (for tls:/wss: listeners); else a client one (outgoing TLS)
	Addr   netip.AddrPort // the socket (server) or destination (client) it is for; zero: default
	// ServerName: a server profile is used when the client asks for this
	// name (SNI); a client profile sends it and checks the certificate for it.
	ServerName  string
	Certificate string // PEM files; paths as given
	PrivateKey  string
	CAList      string
	MinVersion  uint16 // tls.VersionTLS12, ...
	MaxVersion  uint16 // 0 = newest
	// Verify checks the peer's certificate (a client certificate when
	// given, for a server profile); Require makes a server insist on one.
	Verify  bool
	Require bool
}

// profile is a TLSProfile with its loaded configuration; Reload swaps
// the configuration, so connections already set up are untouched.
type profile struct {
	p   TLSProfile
	cfg atomic.Pointer[tls.Config]
}

// tlsStore holds every profile.
type tlsStore struct {
	mu       sync.Mutex // serialises Reload
	profiles []*profile
}

// SetTLS installs the TLS profiles and loads their files; call before the
// tls:/wss: listeners are opened. An unreadable file is an error.
func (l *Layer) SetTLS(ps []TLSProfile) error {
	st := &tlsStore{}
	for _, p := range ps {
		pr := &profile{p: p}
		cfg, err := buildTLS(p)
		if err != nil {
			return err
		}
		pr.cfg.Store(cfg)
		st.profiles = append(st.profiles, pr)
	}
	l.tls = st
	return nil
}

// ReloadTLS reads every certificate, key and CA file again. A profile whose
// files fail to load keeps its previous configuration; the errors are
// returned together. Open connections are not affected.
func (l *Layer) ReloadTLS() error {
	st := l.tls
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	for _, pr := range st.profiles {
		cfg, err := buildTLS(pr.p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pr.cfg.Store(cfg)
	}
	return errors.Join(errs...)
}

// ProfileName renders a profile as its tls.cfg section name.
func (p TLSProfile) ProfileName() string {
	kind := "client"
	if p.Server {
		kind = "server"
	}
	where := "default"
	if p.Addr.IsValid() {
		where = p.Addr.String()
	}
	if p.ServerName != "" {
		return kind + ":" + where + " (" + p.ServerName + ")"
	}
	return kind + ":" + where
}

func buildTLS(p TLSProfile) (*tls.Config, error) {
	name := p.ProfileName()
	cfg := &tls.Config{MinVersion: p.MinVersion, MaxVersion: p.MaxVersion}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if p.Certificate != "" || p.PrivateKey != "" {
		key := p.PrivateKey
		if key == "" {
			key = p.Certificate // both in one PEM file
		}
		cert, err := tls.LoadX509KeyPair(p.Certificate, key)
		if err != nil {
			return nil, fmt.Errorf("tls profile %s: certificate %s / private key %s: %w", name, p.Certificate, key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	var pool *x509.CertPool
	if p.CAList != "" {
		b, err := os.ReadFile(p.CAList)
		if err != nil {
			return nil, fmt.Errorf("tls profile %s: ca_list: %w", name, err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls profile %s: ca_list %s holds no PEM certificate", name, p.CAList)
		}
	}
	if p.Server {
		if len(cfg.Certificates) == 0 {
			return nil, fmt.Errorf("tls profile %s: a server profile needs certificate and private_key", name)
		}
		cfg.ClientCAs = pool
		switch {
		case p.Verify && p.Require:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case p.Verify:
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		case p.Require:
			cfg.ClientAuth = tls.RequireAnyClientCert
		}
		return cfg, nil
	}
	cfg.RootCAs = pool
	cfg.InsecureSkipVerify = !p.Verify
	cfg.ServerName = p.ServerName
	return cfg, nil
}

// serverConfig is the configuration for a tls:/wss: listener on sock: it
// picks the profile by the name the client asks for (SNI) among the
// profiles for this socket, then the default ones.
func (st *tlsStore) serverConfig(addr netip.AddrPort) (*tls.Config, error) {
	var cands []*profile
	for _, pass := range []bool{true, false} {
		for _, pr := range st.profiles {
			if !pr.p.Server {
				continue
			}
			if pass && pr.p.Addr == addr || !pass && !pr.p.Addr.IsValid() {
				cands = append(cands, pr)
			}
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no TLS server profile for %s (add one for server:default or server:%s)", addr, addr)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return pickServer(cands, hello.ServerName).cfg.Load(), nil
		},
	}, nil
}

// pickServer chooses the profile whose server_name matches sni, else the
// first without a server_name, else the first.
func pickServer(cands []*profile, sni string) *profile {
	if sni != "" {
		for _, pr := range cands {
			if pr.p.ServerName != "" && strings.EqualFold(pr.p.ServerName, sni) {
				return pr
			}
		}
	}
	for _, pr := range cands {
		if pr.p.ServerName == "" {
			return pr
		}
	}
	return cands[0]
}

// clientConfig is the configuration for an outgoing TLS connection to dst;
// serverName (the host of the URI) is sent as SNI and checked.
func (st *tlsStore) clientConfig(dst netip.AddrPort, serverName string) *tls.Config {
	var base *tls.Config
	if st != nil {
		for _, pass := range []bool{true, false} {
			for _, pr := range st.profiles {
				if pr.p.Server {
					continue
				}
				if pass && pr.p.Addr == dst || !pass && !pr.p.Addr.IsValid() {
					base = pr.cfg.Load()
					break
				}
			}
			if base != nil {
				break
			}
		}
	}
	var cfg *tls.Config
	if base == nil {
		// Kamailio's default client profile: no certificate check.
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	} else {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
		if _, err := netip.ParseAddr(serverName); err == nil || serverName == "" {
			// No name to ask for: check the certificate for the address.
			cfg.ServerName = dst.Addr().String()
		}
	}
	return cfg
}
