package transport

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// wsMaxHandshake bounds the HTTP upgrade request.
const wsMaxHandshake = 8192

// wsMaxFragments bounds the frames one message may be split into: SIP
// clients send a message in one frame; thousands of tiny fragments only
// make the server work.
const wsMaxFragments = 64

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// errWSHandshake wraps why an upgrade request was refused.
type errWSHandshake struct {
	status int
	reason string
}

func (e *errWSHandshake) Error() string { return "websocket handshake: " + e.reason }

// wsAccept is the Sec-WebSocket-Accept value for a key (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsUpgrade reads the HTTP upgrade request from c and answers it (RFC 6455
// §4.2, RFC 7118 §4: the "sip" subprotocol must be offered and is
// selected). It returns the bytes that followed the request.
func wsUpgrade(c net.Conn) ([]byte, error) {
	br := bufio.NewReaderSize(io.LimitReader(c, wsMaxHandshake), 4096)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, &errWSHandshake{status: 400, reason: "no HTTP request"}
	}
	if err := checkUpgrade(req); err != nil {
		var he *errWSHandshake
		if errors.As(err, &he) {
			extra := ""
			if he.status == 426 {
				extra = "Sec-WebSocket-Version: 13\r\n"
			}
			_, _ = io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(he.status)+" "+http.StatusText(he.status)+
				"\r\n"+extra+"Connection: close\r\nContent-Length: 0\r\n\r\n")
		}
		return nil, err
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAccept(strings.TrimSpace(req.Header.Get("Sec-WebSocket-Key"))) + "\r\n" +
		"Sec-WebSocket-Protocol: sip\r\n\r\n"
	if _, err := io.WriteString(c, resp); err != nil {
		return nil, err
	}
	rest := make([]byte, br.Buffered())
	_, _ = io.ReadFull(br, rest)
	return rest, nil
}

// checkUpgrade validates a WebSocket opening handshake for SIP.
func checkUpgrade(req *http.Request) error {
	if req.Method != http.MethodGet {
		return &errWSHandshake{405, "method is not GET"}
	}
	if !headerHasToken(req.Header, "Upgrade", "websocket") || !headerHasToken(req.Header, "Connection", "upgrade") {
		return &errWSHandshake{426, "not an upgrade to websocket"}
	}
	if strings.TrimSpace(req.Header.Get("Sec-WebSocket-Version")) != "13" {
		return &errWSHandshake{426, "websocket version is not 13"}
	}
	key := strings.TrimSpace(req.Header.Get("Sec-WebSocket-Key"))
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return &errWSHandshake{400, "bad Sec-WebSocket-Key"}
	}
	if !headerHasToken(req.Header, "Sec-WebSocket-Protocol", "sip") {
		return &errWSHandshake{400, "websocket subprotocol sip not offered"}
	}
	return nil
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsAssembler joins the frames of a WebSocket connection into messages.
type wsAssembler struct {
	max     int
	msg     []byte // fragments of the message being received
	op      byte   // its opcode; 0 = none in progress
	frags   int
	started time.Time
}

// wsEvent is what one frame means for the connection.
type wsEvent struct {
	message []byte // a complete text/binary message (one SIP message)
	pong    []byte // answer a ping with this payload
	close   bool   // the peer closed
	code    int    // close code to send back
}

// frame processes one frame; an error closes the connection.
func (a *wsAssembler) frame(f WSFrame, now time.Time) (wsEvent, error) {
	switch f.Opcode {
	case wsPing:
		return wsEvent{pong: append([]byte(nil), f.Payload...)}, nil
	case wsPong:
		return wsEvent{}, nil
	case wsClose:
		return wsEvent{close: true, code: wsCloseNormal}, nil
	case wsText, wsBinary:
		if a.op != 0 {
			return wsEvent{code: wsCloseProtocol}, errors.New("websocket data frame inside a fragmented message")
		}
		if f.Fin {
			return wsEvent{message: append([]byte(nil), f.Payload...)}, nil
		}
		a.op, a.frags, a.started = f.Opcode, 1, now
		a.msg = append(a.msg[:0], f.Payload...)
		return wsEvent{}, nil
	case wsCont:
		if a.op == 0 {
			return wsEvent{code: wsCloseProtocol}, errors.New("websocket continuation without a message")
		}
		a.frags++
		if a.frags > wsMaxFragments {
			return wsEvent{code: wsCloseTooBig}, errors.New("websocket message in too many fragments")
		}
		if len(a.msg)+len(f.Payload) > a.max {
			return wsEvent{code: wsCloseTooBig}, ErrWSTooLarge
		}
		a.msg = append(a.msg, f.Payload...)
		if !f.Fin {
			return wsEvent{}, nil
		}
		m := a.msg
		a.msg, a.op, a.frags = nil, 0, 0
		return wsEvent{message: m}, nil
	}
	return wsEvent{code: wsCloseProtocol}, ErrWSReserved
}

// pending reports whether a fragmented message is open, and since when.
func (a *wsAssembler) pending() (time.Time, bool) { return a.started, a.op != 0 }

// wsDataOpcode is the frame type for an outgoing SIP message: text when it
// is valid UTF-8 (what browsers expect), binary otherwise.
func wsDataOpcode(b []byte) byte {
	if utf8.Valid(b) {
		return wsText
	}
	return wsBinary
}

// wsCloseFrame is a close frame with a status code, from the server.
func wsCloseFrame(code int) []byte {
	return AppendWSFrame(nil, wsClose, []byte{byte(code >> 8), byte(code)}, nil)
}
