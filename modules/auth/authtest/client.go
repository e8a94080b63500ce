// Package authtest is a digest authentication client for tests: it reads
// the challenges of a 401/407 reply and computes Authorization and
// Proxy-Authorization values (MD5, SHA-256, SHA-512-256 and the -sess
// variants; qop none, auth and auth-int) the way a user agent does,
// independently of the server code it tests.
package authtest

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Challenge is one WWW-Authenticate or Proxy-Authenticate header.
type Challenge struct {
	Proxy     bool // Proxy-Authenticate
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string // as sent ("" = MD5)
	QOP       []string
	Stale     bool
	Raw       string // the header line
}

// Challenges parses every digest challenge of a reply text, in order.
func Challenges(reply string) []Challenge {
	var out []Challenge
	for _, line := range strings.Split(reply, "\r\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		proxy := strings.EqualFold(strings.TrimSpace(name), "Proxy-Authenticate")
		if !proxy && !strings.EqualFold(strings.TrimSpace(name), "WWW-Authenticate") {
			continue
		}
		val = strings.TrimSpace(val)
		scheme, rest, _ := strings.Cut(val, " ")
		if !strings.EqualFold(scheme, "Digest") {
			continue
		}
		ch := Challenge{Proxy: proxy, Raw: line}
		for k, v := range params(rest) {
			switch strings.ToLower(k) {
			case "realm":
				ch.Realm = v
			case "nonce":
				ch.Nonce = v
			case "opaque":
				ch.Opaque = v
			case "algorithm":
				ch.Algorithm = v
			case "qop":
				for _, q := range strings.Split(v, ",") {
					ch.QOP = append(ch.QOP, strings.TrimSpace(q))
				}
			case "stale":
				ch.Stale = strings.EqualFold(v, "true")
			}
		}
		out = append(out, ch)
	}
	return out
}

// params splits "a=1, b=\"x,y\"" into a map (quotes removed, \ escapes undone).
func params(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ,\t")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		k := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var v string
		if strings.HasPrefix(s, "\"") {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			v, s = b.String(), s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v, s = strings.TrimSpace(s[:end]), s[end:]
		}
		out[k] = v
	}
	return out
}

// Client answers challenges for one user. It counts nc per nonce as a user
// agent does (1, 2, 3...) unless NC is set.
type Client struct {
	Username string
	Password string // used when HA1 is ""
	HA1      string // a precomputed HA1 instead of the password
	CNonce   string // fixed cnonce; random when ""
	// NC, when not zero, is the nonce count sent (to replay or skip counts).
	NC uint32
	// Algorithm overrides the algorithm the response is computed with
	// (and sent), to answer a challenge with another one.
	Algorithm string

	counts map[string]uint32
}

// Options of one answer.
type Options struct {
	Method string
	URI    string
	Body   string // for qop=auth-int
	QOP    string // "", "auth" or "auth-int"; "" answers in RFC 2069 form
}

// Answer returns the credentials value ("Digest username=...") for ch.
func (c *Client) Answer(ch Challenge, o Options) string {
	alg := ch.Algorithm
	if c.Algorithm != "" {
		alg = c.Algorithm
	}
	if alg == "" {
		alg = "MD5"
	}
	newH, sess := hashOf(alg)
	sum := func(parts ...string) string {
		h := newH()
		h.Write([]byte(strings.Join(parts, ":")))
		return hex.EncodeToString(h.Sum(nil))
	}
	cnonce := c.CNonce
	if cnonce == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cnonce = hex.EncodeToString(b[:])
	}
	nc := c.NC
	if nc == 0 {
		if c.counts == nil {
			c.counts = map[string]uint32{}
		}
		c.counts[ch.Nonce]++
		nc = c.counts[ch.Nonce]
	}
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := c.HA1
	if ha1 == "" {
		ha1 = sum(c.Username, ch.Realm, c.Password)
	}
	if sess {
		ha1 = sum(ha1, ch.Nonce, cnonce)
	}
	ha2 := sum(o.Method, o.URI)
	if o.QOP == "auth-int" {
		ha2 = sum(o.Method, o.URI, sum(o.Body))
	}
	var resp string
	if o.QOP == "" {
		resp = sum(ha1, ch.Nonce, ha2)
	} else {
		resp = sum(ha1, ch.Nonce, ncs, cnonce, o.QOP, ha2)
	}
	v := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s`,
		c.Username, ch.Realm, ch.Nonce, o.URI, resp, alg)
	if o.QOP != "" || sess {
		v += fmt.Sprintf(`, cnonce="%s"`, cnonce)
	}
	if o.QOP != "" {
		v += fmt.Sprintf(", qop=%s, nc=%s", o.QOP, ncs)
	}
	if ch.Opaque != "" {
		v += fmt.Sprintf(`, opaque="%s"`, ch.Opaque)
	}
	return v
}

// Header returns the full header line (name included, no CRLF).
func (c *Client) Header(ch Challenge, o Options) string {
	name := "Authorization"
	if ch.Proxy {
		name = "Proxy-Authorization"
	}
	return name + ": " + c.Answer(ch, o)
}

// HA1 computes H(username:realm:password) for an algorithm name.
func HA1(alg, username, realm, password string) string {
	newH, _ := hashOf(alg)
	h := newH()
	h.Write([]byte(username + ":" + realm + ":" + password))
	return hex.EncodeToString(h.Sum(nil))
}

func hashOf(alg string) (func() hash.Hash, bool) {
	a := strings.ToUpper(alg)
	sess := strings.HasSuffix(a, "-SESS")
	switch strings.TrimSuffix(a, "-SESS") {
	case "SHA-256":
		return sha256.New, sess
	case "SHA-512-256":
		return sha512.New512_256, sess
	}
	return md5.New, sess
}
