package registrar

import (
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Kamailio's request method bits (parser/msg_parser.h), the values of the
// methods mask saved with a contact and shown by ul.dump.
var methodBits = map[string]uint32{
	"INVITE": 1 << 0, "CANCEL": 1 << 1, "ACK": 1 << 2, "BYE": 1 << 3, "INFO": 1 << 4, "REGISTER": 1 << 5,
	"SUBSCRIBE": 1 << 6, "NOTIFY": 1 << 7, "MESSAGE": 1 << 8, "OPTIONS": 1 << 9, "PRACK": 1 << 10,
	"UPDATE": 1 << 11, "REFER": 1 << 12, "PUBLISH": 1 << 13, "KDMQ": 1 << 14, "GET": 1 << 15,
	"POST": 1 << 16, "PUT": 1 << 17, "DELETE": 1 << 18,
}

// methodOther is the bit of every method without its own.
const methodOther uint32 = 1 << 19

// methodBit is the bit of a method name (any case, as Kamailio parses them).
func methodBit(name string) uint32 {
	if b, ok := methodBits[strings.ToUpper(name)]; ok {
		return b
	}
	return methodOther
}

// allowMask turns the Allow header values into a methods mask; ok is false
// when the request has no Allow header (the contact then supports all).
func allowMask(m *msg.Msg) (mask uint32, ok bool) {
	for i := range m.Hdrs {
		h := &m.Hdrs[i]
		if !h.Is("Allow") {
			continue
		}
		ok = true
		for _, name := range strings.Split(unfold(h.Value), ",") {
			if name = strings.TrimSpace(name); name != "" {
				mask |= methodBit(name)
			}
		}
	}
	return mask, ok
}
