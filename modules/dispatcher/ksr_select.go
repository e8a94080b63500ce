package dispatcher

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// selectKSR is ds_select_dst / ds_select_domain / ds_select (mode).
func (d *Dispatcher) selectKSR(c *kemi.Ctx, setid, alg, limit, mode int) int {
	m := c.M
	if m == nil || m.Req == nil {
		return -1
	}
	if mode == modeDst && !d.cfg.forceDst && m.DstURI != "" {
		c.Logger().Info("ds_select_dst: destination already set and force_dst is 0", zap.String("du", m.DstURI))
		return -1
	}
	recs, ok := d.selectOne(c, setid, alg, limit, mode)
	if !ok {
		return -1
	}
	if recs == nil {
		return 1 // parallel forking: no failover list
	}
	ctx := ctxOf(m, true)
	ctx.mu.Lock()
	ctx.recs = append(recs, ctx.recs...)
	ctx.cnt = len(recs)
	ctx.mu.Unlock()
	return 1
}

// selectOne selects from one set and pushes the first destination; it
// returns the failover records (nil for algorithm 12, whose other
// destinations became branches).
func (d *Dispatcher) selectOne(c *kemi.Ctx, setid, alg, limit, mode int) ([]rec, bool) {
	m := c.M
	s := d.tab.Load().set(setid)
	if s == nil {
		c.Logger().Debug("dispatcher: destination set not found", zap.Int("set", setid))
		d.st.failed.Inc()
		return nil, false
	}
	sel, err := d.choose(s, alg, limit, msgKeys{c: c, d: d})
	if err != nil {
		c.Logger().Debug("dispatcher: no destination selected", zap.Int("set", setid), zap.Int("alg", alg), zap.Error(err))
		d.st.failed.Inc()
		return nil, false
	}
	if err := d.push(m, sel.first, mode); err != nil {
		c.Logger().Warn("dispatcher: cannot use the destination", zap.String("uri", sel.first.uri), zap.Error(err))
		return nil, false
	}
	d.st.selected.Inc()
	if alg == algParallel {
		ds := sel.branches
		if mode == modeXAVP {
			ds = append([]*dest{sel.first}, ds...)
		}
		if err := d.addBranches(m, ds, mode); err != nil {
			c.Logger().Warn("dispatcher: parallel branches not added", zap.Error(err))
		}
		return nil, true
	}
	return sel.recs, true
}

// selectRoutes is ds_select_routes: rules "set=alg;set=alg", the first
// destination found goes where mode says, the rest into the failover list
// in rule order.
func (d *Dispatcher) selectRoutes(c *kemi.Ctx, rules, mode string, limit int) int {
	if c.M == nil || c.M.Req == nil || mode == "" {
		return -1
	}
	umode := modeXAVP
	switch mode[0] {
	case '0', 'd', 'D':
		umode = modeDst
	case '1', 'r', 'R':
		umode = modeRURI
	case '2', 'x', 'X':
	default:
		c.Logger().Warn("ds_select_routes: invalid mode", zap.String("mode", mode))
		return -1
	}
	pairs, ok := parseRoutes(rules)
	if !ok {
		c.Logger().Warn("ds_select_routes: invalid rules", zap.String("rules", rules))
		return -1
	}
	var all []rec
	pushed, found := false, false
	for _, p := range pairs {
		m := modeXAVP
		if !pushed {
			m = umode
		}
		rem := 0
		if limit > 0 {
			if rem = limit - len(all); rem < 1 {
				rem = 1
			}
		}
		recs, ok := d.selectOne(c, p[0], p[1], rem, m)
		if !ok {
			continue
		}
		found = true
		if m != modeXAVP {
			pushed = true
		}
		all = append(all, recs...)
	}
	if !found {
		return -1
	}
	ctx := ctxOf(c.M, true)
	ctx.mu.Lock()
	ctx.recs = append(all, ctx.recs...)
	ctx.cnt = len(all)
	ctx.mu.Unlock()
	return 1
}

// parseRoutes reads "1=4;2=8": digits, '=' and ';' only.
func parseRoutes(s string) ([][2]int, bool) {
	var out [][2]int
	for _, part := range strings.Split(s, ";") {
		if part == "" {
			continue
		}
		a, b, ok := strings.Cut(part, "=")
		if !ok || a == "" || b == "" || !digits(a) || !digits(b) || len(a) > 9 || len(b) > 9 {
			return nil, false
		}
		out = append(out, [2]int{atoiDigits(a), atoiDigits(b)})
	}
	return out, len(out) > 0
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// updateDst is ds_next_dst / ds_next_domain (next) and ds_set_dst /
// ds_set_domain: take the next (or current) destination of the failover
// list. Moving on with call load moves the call's load along.
func (d *Dispatcher) updateDst(c *kemi.Ctx, next bool, mode int) int {
	m := c.M
	if m == nil || m.Req == nil {
		return -1
	}
	if next && !d.cfg.failover {
		d.warnOnce("function", "failover support disabled (flags bit 2 not set)", "ds_next_dst")
		return -1
	}
	ctx := ctxOf(m, false)
	if ctx == nil {
		return -1
	}
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	if next {
		// The last destination stays current when none is left, so that
		// ds_mark_dst and ds_load_unset still find the one that failed.
		if len(ctx.recs) < 2 {
			return -1
		}
		ctx.recs = ctx.recs[1:]
	}
	if len(ctx.recs) == 0 {
		return -1
	}
	r := ctx.recs[0]
	if err := d.push(m, r.d, mode); err != nil {
		c.Logger().Warn("dispatcher: cannot use the next destination", zap.String("uri", r.d.uri), zap.Error(err))
		return -1
	}
	if next {
		d.st.failovers.Inc()
		if r.load && d.loads != nil {
			d.loads.replace(m.CallID(), r.d)
		}
	}
	return 1
}
