package topoh

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
)

// The masked values are authenticated encryption, not Kamailio's keyed
// base64 shuffle: AES-256-GCM under a key derived from mask_key, so a value
// that was changed or made up fails to open and is never decoded into an
// address.
//
// Encryption is deterministic (a synthetic IV): the nonce is an HMAC of the
// value under a second derived key. The same value always masks to the same
// text, which the protocol needs — the masked Call-ID of a dialog must be
// the same in every request, whichever node of a cluster sends it — and it
// reveals only that two masked values are equal. A value never reuses a
// nonce with another value, so GCM's security holds.
//
// Layout: base64url(version | nonce[12] | ciphertext | tag[16]), with the
// version and the kind of value (Via, URI, Call-ID) as associated data, so
// a masked Via cannot be replayed as a Contact.

const (
	codecVersion = 1
	nonceSize    = 12
	// maxMasked bounds what open looks at, so a huge parameter costs nothing.
	maxMasked = 8192
)

// Kinds of masked values (associated data).
const (
	kindVia    byte = 'v'
	kindURI    byte = 'u'
	kindCallID byte = 'c'
)

var (
	errMaskedTooLong = errors.New("masked value too long")
	errMaskedBad     = errors.New("masked value does not authenticate")
	b64              = base64.RawURLEncoding.Strict() // one text per value: no spare bits

)

// codec seals and opens masked values with keys derived from mask_key.
type codec struct {
	aead cipher.AEAD
	macs sync.Pool // hash.Hash: HMAC-SHA256 under the nonce key
}

func newCodec(secret string) (*codec, error) {
	salt := []byte("luasbc topoh mask_key v1")
	encKey, err := hkdf.Key(sha256.New, []byte(secret), salt, "aes-256-gcm", 32)
	if err != nil {
		return nil, err
	}
	sivKey, err := hkdf.Key(sha256.New, []byte(secret), salt, "synthetic-iv", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	c := &codec{aead: aead}
	c.macs.New = func() any { return hmac.New(sha256.New, sivKey) }
	return c, nil
}

// seal masks plain as a value of the given kind.
func (c *codec) seal(kind byte, plain string) string {
	ad := [2]byte{codecVersion, kind}
	h := c.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(ad[:])
	h.Write([]byte(plain))
	var sum [sha256.Size]byte
	iv := h.Sum(sum[:0])[:nonceSize]
	c.macs.Put(h)
	out := make([]byte, 1, 1+nonceSize+len(plain)+c.aead.Overhead())
	out[0] = codecVersion
	out = append(out, iv...)
	out = c.aead.Seal(out, iv, []byte(plain), ad[:])
	return b64.EncodeToString(out)
}

// open unmasks a value sealed with the same kind and key.
func (c *codec) open(kind byte, masked string) (string, error) {
	if len(masked) > maxMasked {
		return "", errMaskedTooLong
	}
	raw, err := b64.DecodeString(masked)
	if err != nil || len(raw) < 1+nonceSize+c.aead.Overhead() || raw[0] != codecVersion {
		return "", errMaskedBad
	}
	ad := [2]byte{codecVersion, kind}
	plain, err := c.aead.Open(nil, raw[1:1+nonceSize], raw[1+nonceSize:], ad[:])
	if err != nil {
		return "", errMaskedBad
	}
	return string(plain), nil
}
