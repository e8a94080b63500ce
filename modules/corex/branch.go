package corex

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

// maxBranches is Kamailio's default sr_dst_max_branches: appending beyond it
// fails rather than growing the destination set without bound.
const maxBranches = 12

// appendBranch adds uri (with the current $du, branch flags and forced
// socket) to the destination set tm forks to. q is q*1000, -1 for none.
func appendBranch(c *kemi.Ctx, uri string, q int) int {
	m := c.M
	if m.Req == nil {
		return -1
	}
	if len(m.Branches) >= maxBranches-1 {
		c.Logger().Error("append_branch: too many branches", zap.Int("max", maxBranches))
		m.ErrCode = 12
		return -1
	}
	if err := msg.CheckValue(uri); err != nil || strings.ContainsAny(uri, " \t") {
		c.Logger().Error("append_branch: bad URI", zap.String("uri", uri))
		return -1
	}
	u := &sip.Uri{}
	if err := sip.ParseUri(uri, u); err != nil || u.Host == "" {
		c.Logger().Error("append_branch: bad URI", zap.String("uri", uri), zap.Error(err))
		return -1
	}
	m.Branches = append(m.Branches, msg.Branch{URI: uri, DstURI: m.DstURI, Q: q, Flags: m.BFlags, Socket: m.ForceSocket})
	return 1
}

// parseQ reads a q value ("0.5", "1", "0.25") as thousandths.
func parseQ(s string) (int, bool) {
	s = strings.TrimSpace(s)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, false
	}
	return int(f*1000 + 0.5), true
}

func branchExports() []kemi.Export {
	return []kemi.Export{
		kemi.Fn0Int("append_branch", "Add the current R-URI (with $du, branch flags, send socket) to the destination set. 1 ok, -1 error.",
			func(c *kemi.Ctx) int { return appendBranch(c, c.M.RURIString(), -1) }),
		kemi.FnStrInt("append_branch_uri", "Add the URI as a new branch of the destination set. 1 ok, -1 error.",
			func(c *kemi.Ctx, uri string) int { return appendBranch(c, uri, -1) }),
		kemi.FnStrStrInt("append_branch_uri_q", "Add the URI with q value (\"0.5\") as a new branch. 1 ok, -1 error.",
			func(c *kemi.Ctx, uri, q string) int {
				qv, ok := parseQ(q)
				if !ok {
					c.Logger().Error("append_branch_uri_q: bad q value", zap.String("q", q))
					return -1
				}
				return appendBranch(c, uri, qv)
			}),
	}
}
