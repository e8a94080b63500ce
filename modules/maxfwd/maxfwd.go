// Package maxfwd checks and decrements Max-Forwards (Kamailio's maxfwd module).
package maxfwd

import (
	"strconv"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "maxfwd",
		Doc:  "Max-Forwards processing (RFC 3261 §16.3 step 2, §16.6 step 3).",
		Params: []kemi.ParamDef{
			{Name: "max_limit", Default: 70, Doc: "Upper bound for Max-Forwards (1-256); larger received values are lowered to it."},
		},
		New: func(env *kemi.Env) (kemi.Instance, error) {
			lim := env.Params.Int("max_limit")
			if lim < 1 || lim > 256 {
				return nil, errRange(lim)
			}
			return &maxfwd{limit: lim}, nil
		},
	})
}

type errRange int

func (e errRange) Error() string { return "max_limit " + strconv.Itoa(int(e)) + " out of range 1-256" }

type maxfwd struct{ limit int }

// extKey holds the value process_maxfwd wrote (read by the core when the
// request is forwarded, and by later calls, as Kamailio keeps the parsed value).
const extKey = "maxfwd"

// parseValue converts a Max-Forwards body as Kamailio's str2s does: the value
// trimmed of blanks, digits only, at most five of them, computed as an
// unsigned 16-bit number (so "300" is 300 and is capped later by max_limit,
// "123456" is an error).
func parseValue(v string) (int, bool) {
	i, j := 0, len(v)
	for j > i && (v[j-1] == ' ' || v[j-1] == '\t' || v[j-1] == '\r' || v[j-1] == '\n' || v[j-1] == 0) {
		j--
	}
	for i < j && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	if j-i > 5 {
		return 0, false
	}
	var n uint16
	for _, c := range []byte(v[i:j]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint16(c-'0')
	}
	return int(n), true
}

// value reads Max-Forwards: (value, present, valid). Once process_maxfwd has
// run, the value it wrote is what later calls see.
func value(m *msg.Msg) (int, bool, bool) {
	v, ok := m.HeaderType(msg.HMaxForwards)
	if !ok {
		return 0, false, true
	}
	if n, ok := m.GetExt(extKey).(int); ok {
		return n, true, true
	}
	n, valid := parseValue(v)
	return n, true, valid
}

// Process is process_maxfwd: 2 header added, 1 decremented, -1 value 0 (or
// limit out of 0-255), -2 invalid header.
func (x *maxfwd) Process(c *kemi.Ctx, limit int) int {
	if limit < 0 || limit > 255 {
		c.Logger().Error("process_maxfwd: invalid param value", zap.Int("limit", limit))
		return -1
	}
	if c.M.Req == nil {
		return -2
	}
	n, present, valid := value(c.M)
	switch {
	case !valid:
		return -2
	case !present:
		// Kamailio adds the header with the given value as is.
		c.M.SetExt(extKey, limit)
		return 2
	case n == 0:
		return -1
	}
	if n > x.limit {
		n = x.limit + 1
	}
	c.M.SetExt(extKey, n-1)
	return 1
}

// Lt is is_maxfwd_lt: 1 value < limit, -1 not (or limit out of 0-255),
// -2 no header, -3 invalid header.
func (x *maxfwd) Lt(c *kemi.Ctx, limit int) int {
	if limit < 0 || limit > 255 {
		c.Logger().Error("is_maxfwd_lt: invalid param value", zap.Int("limit", limit))
		return -1
	}
	n, present, valid := value(c.M)
	switch {
	case !valid:
		return -3
	case !present:
		return -2
	case n >= limit:
		return -1
	}
	return 1
}

func (x *maxfwd) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnIntInt("process_maxfwd", "No header: add one with value max, 2. Present and > 0: decrement (values above max_limit become max_limit), 1. Zero: -1 (reply 483). Invalid header: -2. max outside 0-255: -1.",
			x.Process),
		kemi.FnIntInt("is_maxfwd_lt", "1 if Max-Forwards < max, -1 if not (or max outside 0-255), -2 no header, -3 invalid header.",
			x.Lt),
	}
}
