package textops

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

type sipURI = sip.Uri

var (
	errMode    = errors.New("mode must be f (first) or a (all)")
	errFlags   = errors.New("flags must be a (all), f (first) or l (last)")
	errBadUser = errors.New("invalid user part")
	errOp      = errors.New("operator must be eq, ne, in or re")
)

// selectHeaders returns the indices of the headers named hname chosen by
// flags: a (all, also when empty), f (first) or l (last).
func selectHeaders(m *msg.Msg, hname, flags string) ([]int, error) {
	var idx []int
	for i := range m.Hdrs {
		if m.Hdrs[i].Is(hname) {
			idx = append(idx, i)
		}
	}
	switch strings.ToLower(flags) {
	case "a", "":
		return idx, nil
	case "f":
		return idx[:min(1, len(idx))], nil
	case "l":
		if len(idx) == 0 {
			return nil, nil
		}
		return idx[len(idx)-1:], nil
	}
	return nil, errFlags
}

// searchHf matches re against the received bodies of the selected headers.
func searchHf(c *kemi.Ctx, hname, re, flags string) int {
	rx, err := compile(reSearch, re)
	if err != nil {
		return logErr(c, "search_hf", err)
	}
	idx, err := selectHeaders(c.M, hname, flags)
	if err != nil {
		return logErr(c, "search_hf", err)
	}
	for _, i := range idx {
		if rx.MatchString(c.M.Hdrs[i].Value) {
			return 1
		}
	}
	return -1
}

func isPresentHfRe(c *kemi.Ctx, re string) int {
	rx, err := compile(reSearch, re)
	if err != nil {
		return logErr(c, "is_present_hf_re", err)
	}
	for i := range c.M.Hdrs {
		if rx.MatchString(c.M.Hdrs[i].Name) {
			return 1
		}
	}
	return -1
}

// removeWhere removes the headers (still present after earlier edits) for
// which keep returns false; it returns how many were removed, -1 for none.
func removeWhere(c *kemi.Ctx, fn string, remove func(i int, line string) bool) int {
	st := getState(c.M)
	lines := map[int]string{}
	for i := range c.M.Hdrs {
		if l := st.line(c.M, i); l != "" && remove(i, l) {
			lines[i] = ""
		}
	}
	if len(lines) == 0 {
		return -1
	}
	if err := commit(c.M, st, lines, nil); err != nil {
		return logErr(c, fn, err)
	}
	return len(lines)
}

func removeHf(c *kemi.Ctx, hname string) int {
	return removeWhere(c, "remove_hf", func(i int, _ string) bool { return c.M.Hdrs[i].Is(hname) })
}

func removeHfRe(c *kemi.Ctx, re string) int {
	rx, err := compile(reSearch, re)
	if err != nil {
		return logErr(c, "remove_hf_re", err)
	}
	return removeWhere(c, "remove_hf_re", func(i int, _ string) bool { return rx.MatchString(c.M.Hdrs[i].Name) })
}

func removeHfExp(c *kemi.Ctx, match, skip string) int {
	rm, err := compile(reSearch, match)
	if err != nil {
		return logErr(c, "remove_hf_exp", err)
	}
	rs, err := compile(reSearch, skip)
	if err != nil {
		return logErr(c, "remove_hf_exp", err)
	}
	return removeWhere(c, "remove_hf_exp", func(i int, _ string) bool {
		n := c.M.Hdrs[i].Name
		return rm.MatchString(n) && !rs.MatchString(n)
	})
}

// removeHfIdx removes the idx-th header named hname (0 first, -1 last).
func removeHfIdx(c *kemi.Ctx, hname string, idx int) int {
	all, _ := selectHeaders(c.M, hname, "a")
	if idx < 0 {
		idx += len(all)
	}
	if idx < 0 || idx >= len(all) {
		return -1
	}
	target := all[idx]
	return removeWhere(c, "remove_hf_idx", func(i int, _ string) bool { return i == target })
}

// removeHfMatch removes headers named hname whose body matches expr by op:
// eq (equal), ne (not equal), in (contains), re (regular expression).
func removeHfMatch(c *kemi.Ctx, hname, op, expr string) int {
	var test func(v string) bool
	switch strings.ToLower(op) {
	case "eq":
		test = func(v string) bool { return v == expr }
	case "ne":
		test = func(v string) bool { return v != expr }
	case "in":
		test = func(v string) bool { return strings.Contains(v, expr) }
	case "re":
		rx, err := compile(reSearch, expr)
		if err != nil {
			return logErr(c, "remove_hf_match", err)
		}
		test = rx.MatchString
	default:
		return logErr(c, "remove_hf_match", errOp)
	}
	return removeWhere(c, "remove_hf_match", func(i int, line string) bool {
		if !c.M.Hdrs[i].Is(hname) {
			return false
		}
		s, e := valueSpan(line)
		return test(line[s:e])
	})
}
