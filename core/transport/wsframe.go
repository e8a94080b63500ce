package transport

import (
	"encoding/binary"
	"errors"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	wsCont   = 0x0
	wsText   = 0x1
	wsBinary = 0x2
	wsClose  = 0x8
	wsPing   = 0x9
	wsPong   = 0xA
)

// WebSocket close codes (RFC 6455 §7.4.1).
const (
	wsCloseNormal   = 1000
	wsCloseProtocol = 1002
	wsCloseTooBig   = 1009
)

// Frame errors: a connection that produces one is closed.
var (
	ErrWSUnmasked  = errors.New("websocket frame from the client is not masked")
	ErrWSMasked    = errors.New("websocket frame from the server is masked")
	ErrWSTooLarge  = errors.New("websocket frame larger than the limit")
	ErrWSReserved  = errors.New("websocket frame with reserved bits or opcode")
	ErrWSControl   = errors.New("websocket control frame fragmented or longer than 125 bytes")
	ErrWSBadLength = errors.New("websocket frame length not minimal or over 2^63")
)

// WSFrame is one parsed frame; Payload is unmasked (in place, in the buffer
// given to ParseWSFrame).
type WSFrame struct {
	Fin     bool
	Opcode  byte
	Payload []byte
}

// ParseWSFrame reads the first frame of buf. It returns the frame and its
// total length, or n == 0 when buf does not hold the whole frame yet. A
// frame whose payload would exceed max fails as soon as its header is
// read, so an oversized frame is never buffered. fromClient demands the
// mask a client must set (§5.1); a server's frames must not be masked.
func ParseWSFrame(buf []byte, max int, fromClient bool) (f WSFrame, n int, err error) {
	if len(buf) < 2 {
		return f, 0, nil
	}
	b0, b1 := buf[0], buf[1]
	f.Fin = b0&0x80 != 0
	f.Opcode = b0 & 0x0f
	if b0&0x70 != 0 {
		return f, 0, ErrWSReserved // no extension was negotiated
	}
	switch f.Opcode {
	case wsCont, wsText, wsBinary:
	case wsClose, wsPing, wsPong:
		if !f.Fin || b1&0x7f > 125 {
			return f, 0, ErrWSControl
		}
	default:
		return f, 0, ErrWSReserved
	}
	masked := b1&0x80 != 0
	if fromClient && !masked {
		return f, 0, ErrWSUnmasked
	}
	if !fromClient && masked {
		return f, 0, ErrWSMasked
	}
	hdr := 2
	var plen uint64
	switch l7 := b1 & 0x7f; l7 {
	case 126:
		if len(buf) < 4 {
			return f, 0, nil
		}
		plen = uint64(binary.BigEndian.Uint16(buf[2:4]))
		if plen < 126 {
			return f, 0, ErrWSBadLength
		}
		hdr = 4
	case 127:
		if len(buf) < 10 {
			return f, 0, nil
		}
		plen = binary.BigEndian.Uint64(buf[2:10])
		if plen>>63 != 0 || plen <= 0xffff {
			return f, 0, ErrWSBadLength
		}
		hdr = 10
	default:
		plen = uint64(l7)
	}
	if plen > uint64(max) {
		return f, 0, ErrWSTooLarge
	}
	var key []byte
	if masked {
		if len(buf) < hdr+4 {
			return f, 0, nil
		}
		key = buf[hdr : hdr+4]
		hdr += 4
	}
	total := hdr + int(plen)
	if len(buf) < total {
		return f, 0, nil
	}
	f.Payload = buf[hdr:total]
	if masked {
		for i := range f.Payload {
			f.Payload[i] ^= key[i&3]
		}
	}
	return f, total, nil
}

// AppendWSFrame appends one final frame with the payload; mask is the
// masking key a client uses, nil for a server.
func AppendWSFrame(dst []byte, opcode byte, payload []byte, mask []byte) []byte {
	dst = append(dst, 0x80|opcode)
	mbit := byte(0)
	if mask != nil {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, mbit|byte(n))
	case n <= 0xffff:
		dst = append(dst, mbit|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, mbit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask == nil {
		return append(dst, payload...)
	}
	dst = append(dst, mask[:4]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range dst[start:] {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}
