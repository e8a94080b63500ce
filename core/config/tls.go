package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
)

// TLSProfile is one TLS settings block, named like a section of Kamailio's
// tls.cfg: profile "server:default", "server:10.0.0.1:5061",
// "client:default" or "client:[2001:db8::1]:5061"; the keys are tls.cfg's.
type TLSProfile struct {
	Profile            string `yaml:"profile"`
	Method             string `yaml:"method"` // TLSv1.2+ (default), TLSv1.3, TLSv1.2, TLSv1+, SSLv23 ...
	Certificate        string `yaml:"certificate"`
	PrivateKey         string `yaml:"private_key"`
	CAList             string `yaml:"ca_list"`
	VerifyCertificate  bool   `yaml:"verify_certificate"`
	RequireCertificate bool   `yaml:"require_certificate"`
	ServerName         string `yaml:"server_name"`
	// Accepted for tls.cfg compatibility, with no effect: Go chooses the
	// cipher suites, and chain depth is not limited.
	CipherList  string `yaml:"cipher_list"`
	VerifyDepth int    `yaml:"verify_depth"`

	Server     bool           `yaml:"-"`
	Addr       netip.AddrPort `yaml:"-"` // zero for "default"
	MinVersion uint16         `yaml:"-"`
	MaxVersion uint16         `yaml:"-"`
}

// tlsMethods maps tls.cfg method names to version bounds.
var tlsMethods = map[string][2]uint16{
	"tlsv1.2+": {tls.VersionTLS12, 0}, "tlsv1.3+": {tls.VersionTLS13, 0}, "tlsv1.3": {tls.VersionTLS13, tls.VersionTLS13},
	"tlsv1.2": {tls.VersionTLS12, tls.VersionTLS12}, "tlsv1.1+": {tls.VersionTLS11, 0}, "tlsv1.1": {tls.VersionTLS11, tls.VersionTLS11},
	"tlsv1+": {tls.VersionTLS10, 0}, "tlsv1": {tls.VersionTLS10, tls.VersionTLS10}, "sslv23": {tls.VersionTLS10, 0},
}

// finishTLS checks the profiles, resolves their paths and makes sure every
// tls:/wss: listener has a server profile.
func (c *Config) finishTLS() error {
	seen := map[string]bool{}
	for i := range c.TLS {
		p := &c.TLS[i]
		kind, where, ok := strings.Cut(strings.TrimSpace(p.Profile), ":")
		kind = strings.ToLower(kind)
		if !ok || (kind != "server" && kind != "client") {
			return fmt.Errorf("tls profile %q: want server:default, server:IP:PORT, client:default or client:IP:PORT", p.Profile)
		}
		p.Server = kind == "server"
		if !strings.EqualFold(where, "default") && !strings.EqualFold(where, "any") {
			ap, err := netip.ParseAddrPort(where)
			if err != nil {
				return fmt.Errorf("tls profile %q: %q is not default or IP:PORT (IPv6 in brackets)", p.Profile, where)
			}
			p.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		m := strings.ToLower(strings.TrimSpace(p.Method))
		if m == "" {
			m = "tlsv1.2+"
		}
		v, ok := tlsMethods[m]
		if !ok {
			return fmt.Errorf("tls profile %q: method %q: want TLSv1.2+, TLSv1.3, TLSv1.2, TLSv1.1+, TLSv1+ or SSLv23", p.Profile, p.Method)
		}
		p.MinVersion, p.MaxVersion = v[0], v[1]
		key := strings.ToLower(kind + ":" + p.Addr.String() + "/" + p.ServerName)
		if seen[key] {
			return fmt.Errorf("tls profile %q with server_name %q is given twice", p.Profile, p.ServerName)
		}
		seen[key] = true
		if p.Server && p.Certificate == "" {
			return fmt.Errorf("tls profile %q: a server profile needs certificate (and private_key)", p.Profile)
		}
		if strings.ContainsAny(p.ServerName, " \r\n\x00") {
			return fmt.Errorf("tls profile %q: bad server_name %q", p.Profile, p.ServerName)
		}
		p.Certificate, p.PrivateKey, p.CAList = c.Path(p.Certificate), c.Path(p.PrivateKey), c.Path(p.CAList)
		if p.Certificate != "" {
			key := p.PrivateKey
			if key == "" {
				key = p.Certificate
			}
			if _, err := tls.LoadX509KeyPair(p.Certificate, key); err != nil {
				return fmt.Errorf("tls profile %q: certificate %s / private_key %s: %w", p.Profile, p.Certificate, key, err)
			}
		}
	}
	for _, l := range c.Listen {
		if l.Proto != "tls" && l.Proto != "wss" {
			continue
		}
		found := false
		for _, p := range c.TLS {
			if p.Server && (!p.Addr.IsValid() || p.Addr == l.Addr) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("listen %q: no TLS server profile (add tls: [{profile: \"server:default\", certificate: ..., private_key: ...}])", l.Raw)
		}
	}
	return nil
}
