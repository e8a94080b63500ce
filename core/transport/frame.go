package transport

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Framing errors: a stream that produces one is closed.
var (
	ErrFrameNoLength = errors.New("stream message without Content-Length")
	ErrFrameTooLarge = errors.New("stream message larger than the limit")
	ErrFrameBadHead  = errors.New("stream message with malformed headers")
)

// Frame finds the first complete SIP message in a stream buffer. It returns
// the number of leading bytes to discard (keep-alive CRLFs), the message
// length after them (0 when more data is needed), and whether a "\r\n\r\n"
// keep-alive ping (RFC 5626 §3.5.1) was seen and must be answered.
func Frame(buf []byte, max int) (skip, n int, ping bool, err error) {
	for skip+1 < len(buf) && buf[skip] == '\r' && buf[skip+1] == '\n' {
		skip += 2
	}
	if skip >= 4 {
		ping = true
	}
	data := buf[skip:]
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		if len(data) > max {
			return skip, 0, ping, ErrFrameTooLarge
		}
		return skip, 0, ping, nil
	}
	head := data[:end+4]
	if len(head) > max {
		return skip, 0, ping, ErrFrameTooLarge
	}
	cl := -1
	hdrs, _, _, ierr := msg.IndexHeaders(string(head), nil)
	if ierr != nil {
		return skip, 0, ping, ErrFrameBadHead
	}
	for i := range hdrs {
		if hdrs[i].Type == msg.HContentLength {
			v, perr := strconv.Atoi(strings.TrimSpace(hdrs[i].Value))
			if perr != nil || v < 0 {
				return skip, 0, ping, ErrFrameBadHead
			}
			cl = v
			break
		}
	}
	if cl < 0 {
		return skip, 0, ping, ErrFrameNoLength
	}
	total := len(head) + cl
	if total > max {
		return skip, 0, ping, ErrFrameTooLarge
	}
	if len(data) < total {
		return skip, 0, ping, nil
	}
	return skip, total, ping, nil
}
