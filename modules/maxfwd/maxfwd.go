// Package maxfwd checks and decrements Max-Forwards (Kamailio's maxfwd module).
package maxfwd

import (
	"strconv"
	"strings"

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

// value reads Max-Forwards: (value, present, valid).
func value(m *msg.Msg) (int, bool, bool) {
	v, ok := m.HeaderType(msg.HMaxForwards)
	if !ok {
		return 0, false, true
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 255 {
		return 0, true, false
	}
	return n, true, true
}

func (x *maxfwd) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.FnIntInt("process_maxfwd", "No header: add one with max (capped by max_limit), 2. Present and > 0: decrement, 1. Zero: -1 (reply 483). Invalid: -2.",
			func(c *kemi.Ctx, max int) int {
				if c.M.Req == nil {
					return -2
				}
				n, present, valid := value(c.M)
				switch {
				case !valid:
					return -2
				case !present:
					if max <= 0 || max > x.limit {
						max = x.limit
					}
					c.M.SetExt("maxfwd", max)
					return 2
				case n == 0:
					return -1
				}
				if n > x.limit {
					n = x.limit
				}
				c.M.SetExt("maxfwd", n-1)
				return 1
			}),
		kemi.FnIntInt("is_maxfwd_lt", "1 if Max-Forwards < max, -1 if not, -2 no header, -3 invalid.",
			func(c *kemi.Ctx, max int) int {
				n, present, valid := value(c.M)
				switch {
				case !valid:
					return -3
				case !present:
					return -2
				case n < max:
					return 1
				}
				return -1
			}),
	}
}
