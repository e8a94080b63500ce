package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// A nonce carries everything needed to check it, so that any node holding
// the secret accepts it without shared state:
//
//	version(1) alg(1) checks(1) issued(4) expires(4) id(8) [binding(8)] mac(16)
//
// encoded as unpadded base64url (47 characters, 58 with a binding). issued
// and expires are Unix seconds; id is random and keys the nonce-count and
// one-time-nonce table; binding is an HMAC over the message fields selected
// by the auth_checks_* flags (checks); mac is HMAC-SHA256 over all before it,
// truncated to 128 bits, with a key derived from the secret.
const (
	nonceVersion  = 1
	nonceFixedLen = 19
	nonceBindLen  = 8
	nonceMACLen   = 16
)

// Check flags of auth_checks_register / _no_dlg / _in_dlg.
const (
	CheckURI     = 1 // the Request-URI as received
	CheckCallID  = 2
	CheckFromTag = 4
	CheckSrcIP   = 8
	checkAll     = CheckURI | CheckCallID | CheckFromTag | CheckSrcIP
)

var errBadNonce = errors.New("nonce not issued with this secret")

// nonceEnc refuses non-zero padding bits, so one nonce has one spelling.
var nonceEnc = base64.RawURLEncoding.Strict()

// nonceKeys are the two HMAC keys derived from the secret: one
// authenticates the nonce, the other the message binding (Kamailio splits
// its secret in two halves for the same purposes).
type nonceKeys struct {
	mac, bind []byte
}

func deriveKeys(secret []byte) nonceKeys {
	d := func(label string) []byte {
		h := hmac.New(sha256.New, secret)
		h.Write([]byte(label))
		return h.Sum(nil)
	}
	return nonceKeys{mac: d("luasbc auth nonce v1"), bind: d("luasbc auth binding v1")}
}

// nonceInfo is an opened nonce.
type nonceInfo struct {
	alg             *Algorithm
	checks          uint8
	issued, expires uint32
	id              uint64
	binding         [nonceBindLen]byte
}

// bindFields are the message parts a nonce may be bound to.
type bindFields struct {
	uri, callID, fromTag, srcIP string
}

// binding is the HMAC of the selected fields, each length-prefixed so that
// no two field combinations give the same input.
func (k nonceKeys) binding(checks uint8, f bindFields) [nonceBindLen]byte {
	h := hmac.New(sha256.New, k.bind)
	h.Write([]byte{checks})
	put := func(s string) {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(s)))
		h.Write(l[:])
		h.Write([]byte(s))
	}
	if checks&CheckURI != 0 {
		put(f.uri)
	}
	if checks&CheckCallID != 0 {
		put(f.callID)
	}
	if checks&CheckFromTag != 0 {
		put(f.fromTag)
	}
	if checks&CheckSrcIP != 0 {
		put(f.srcIP)
	}
	var out [nonceBindLen]byte
	copy(out[:], h.Sum(nil))
	return out
}

// issue makes a nonce for alg valid from now for expire seconds.
func (k nonceKeys) issue(alg *Algorithm, checks uint8, f bindFields, now, expire uint32) string {
	var buf [nonceFixedLen + nonceBindLen + nonceMACLen]byte
	buf[0], buf[1], buf[2] = nonceVersion, alg.ID, checks
	binary.BigEndian.PutUint32(buf[3:], now)
	binary.BigEndian.PutUint32(buf[7:], now+expire)
	_, _ = rand.Read(buf[11:19])
	if binary.BigEndian.Uint64(buf[11:19]) == 0 {
		buf[18] = 1 // id 0 marks a free slot of the nonce table
	}
	n := nonceFixedLen
	if checks != 0 {
		b := k.binding(checks, f)
		copy(buf[n:], b[:])
		n += nonceBindLen
	}
	h := hmac.New(sha256.New, k.mac)
	h.Write(buf[:n])
	copy(buf[n:], h.Sum(nil))
	n += nonceMACLen
	return nonceEnc.EncodeToString(buf[:n])
}

// open checks that s is a nonce made with these keys and decodes it. It says
// nothing about expiry or binding: the caller judges those.
func (k nonceKeys) open(s string) (nonceInfo, error) {
	var ni nonceInfo
	if len(s) > base64.RawURLEncoding.EncodedLen(nonceFixedLen+nonceBindLen+nonceMACLen) {
		return ni, errBadNonce
	}
	var buf [nonceFixedLen + nonceBindLen + nonceMACLen]byte
	n, err := nonceEnc.Decode(buf[:], []byte(s))
	if err != nil || n < nonceFixedLen+nonceMACLen || buf[0] != nonceVersion {
		return ni, errBadNonce
	}
	ni.checks = buf[2]
	body := nonceFixedLen
	if ni.checks != 0 {
		body += nonceBindLen
	}
	if ni.checks&^checkAll != 0 || n != body+nonceMACLen {
		return ni, errBadNonce
	}
	h := hmac.New(sha256.New, k.mac)
	h.Write(buf[:body])
	if !hmac.Equal(h.Sum(nil)[:nonceMACLen], buf[body:n]) {
		return ni, errBadNonce
	}
	if ni.alg = algorithmByID(buf[1]); ni.alg == nil {
		return ni, errBadNonce
	}
	ni.issued = binary.BigEndian.Uint32(buf[3:])
	ni.expires = binary.BigEndian.Uint32(buf[7:])
	ni.id = binary.BigEndian.Uint64(buf[11:])
	copy(ni.binding[:], buf[nonceFixedLen:])
	return ni, nil
}
