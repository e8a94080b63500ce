package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"
)

// Algorithm is a digest algorithm of RFC 7616 §3.3 (and RFC 8760 for SIP):
// the hash, and whether it is the "-sess" variant whose HA1 also covers the
// nonce and cnonce.
type Algorithm struct {
	Name   string // as written in challenges: "MD5", "SHA-256-sess"
	ID     uint8  // stable number, bound into nonces
	Sess   bool
	HexLen int // length of a hash in lower-case hex
	newH   func() hash.Hash
}

// The supported algorithms. IDs are part of the nonce format: never renumber.
var (
	AlgMD5           = &Algorithm{Name: "MD5", ID: 1, HexLen: 32, newH: md5.New}
	AlgMD5Sess       = &Algorithm{Name: "MD5-sess", ID: 2, Sess: true, HexLen: 32, newH: md5.New}
	AlgSHA256        = &Algorithm{Name: "SHA-256", ID: 3, HexLen: 64, newH: sha256.New}
	AlgSHA256Sess    = &Algorithm{Name: "SHA-256-sess", ID: 4, Sess: true, HexLen: 64, newH: sha256.New}
	AlgSHA512256     = &Algorithm{Name: "SHA-512-256", ID: 5, HexLen: 64, newH: sha512.New512_256}
	AlgSHA512256Sess = &Algorithm{Name: "SHA-512-256-sess", ID: 6, Sess: true, HexLen: 64, newH: sha512.New512_256}
)

var algorithms = []*Algorithm{AlgMD5, AlgMD5Sess, AlgSHA256, AlgSHA256Sess, AlgSHA512256, AlgSHA512256Sess}

// AlgorithmByName finds an algorithm by its token, ignoring case (RFC 7616
// compares algorithm values case-insensitively).
func AlgorithmByName(name string) *Algorithm {
	for _, a := range algorithms {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

func algorithmByID(id uint8) *Algorithm {
	for _, a := range algorithms {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// ParseAlgorithms reads a comma-separated list ("SHA-256, MD5"), in order,
// without duplicates. "" is MD5 alone.
func ParseAlgorithms(s string) ([]*Algorithm, error) {
	if strings.TrimSpace(s) == "" {
		return []*Algorithm{AlgMD5}, nil
	}
	var out []*Algorithm
	for _, part := range strings.Split(s, ",") {
		a := AlgorithmByName(strings.TrimSpace(part))
		if a == nil {
			return nil, &algError{strings.TrimSpace(part)}
		}
		for _, have := range out {
			if have == a {
				return nil, &algError{a.Name + " (listed twice)"}
			}
		}
		out = append(out, a)
	}
	return out, nil
}

type algError struct{ name string }

func (e *algError) Error() string {
	return "unknown digest algorithm " + e.name + " (want MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256 or SHA-512-256-sess)"
}

// sum hashes the parts joined by ':' and returns lower-case hex.
func (a *Algorithm) sum(parts ...string) string {
	h := a.newH()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	var buf [64]byte
	return hex.EncodeToString(h.Sum(buf[:0]))
}

// HA1 is H(username ":" realm ":" password), the value a subscriber table
// stores instead of the password (the ha1 column for MD5).
func (a *Algorithm) HA1(username, realm, password string) string {
	return a.sum(username, realm, password)
}

// SessHA1 turns a plain HA1 into the HA1 of a "-sess" algorithm
// (RFC 7616 §3.4.2): H(HA1 ":" nonce ":" cnonce). For other algorithms it
// returns ha1 unchanged.
func (a *Algorithm) SessHA1(ha1, nonce, cnonce string) string {
	if !a.Sess {
		return ha1
	}
	return a.sum(ha1, nonce, cnonce)
}

// BodyHash is H(entity-body), the extra part of A2 with qop=auth-int.
func (a *Algorithm) BodyHash(body string) string { return a.sum(body) }

// Response computes request-digest (RFC 7616 §3.4.1) from the effective HA1
// (after SessHA1). qop "" is the RFC 2069 form without nc and cnonce;
// bodyHash is used only with qop auth-int.
func (a *Algorithm) Response(ha1, nonce, nc, cnonce, qop, method, uri, bodyHash string) string {
	var ha2 string
	if strings.EqualFold(qop, "auth-int") {
		ha2 = a.sum(method, uri, bodyHash)
	} else {
		ha2 = a.sum(method, uri)
	}
	if qop == "" {
		return a.sum(ha1, nonce, ha2)
	}
	return a.sum(ha1, nonce, nc, cnonce, qop, ha2)
}
