package kemi

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
)

// lump adds a header edit, logging and returning -1 when the text is refused
// (CR/LF/NUL inside a value: header injection).
func lump(c *Ctx, fn string, op msg.LumpOp, name, text string) int {
	if err := c.M.AddLump(op, name, text); err != nil {
		c.Logger().Error("header text refused", zap.String("function", fn), zap.Error(err))
		return -1
	}
	return 1
}

func hdrGet(name, doc string, missing Value) Export {
	return FnStrX(name, doc, func(c *Ctx, h string) Value {
		v, ok := c.M.Header(h)
		if !ok {
			return missing
		}
		return StrV(v)
	})
}

func hdrGetIdx(name, doc string, missing Value) Export {
	return Fn(name, []ParamType{Str, Int}, RetXval, doc, func(c *Ctx, a *Args) Value {
		vals := c.M.Headers(a.S[0])
		i := int(a.I[1])
		if i < 0 {
			i += len(vals)
		}
		if i < 0 || i >= len(vals) {
			return missing
		}
		return StrV(vals[i])
	})
}

// MatchContent implements KSR.hdr.match_content.
func MatchContent(vals []string, op, value, which string) bool {
	test := func(v string) bool {
		v = strings.ToLower(strings.TrimSpace(v))
		val := strings.ToLower(value)
		switch op {
		case "eq":
			return v == val
		case "ne":
			return v != val
		case "sw":
			return strings.HasPrefix(v, val)
		case "in":
			return strings.Contains(v, val)
		}
		return false
	}
	if len(vals) == 0 {
		return false
	}
	switch which {
	case "f", "":
		return test(vals[0])
	case "l":
		return test(vals[len(vals)-1])
	case "a":
		for _, v := range vals {
			if !test(v) {
				return false
			}
		}
		return true
	case "o":
		for _, v := range vals {
			if test(v) {
				return true
			}
		}
	}
	return false
}

func hdrExports() []Export {
	return []Export{
		FnStrInt("append", "Append header text (with name and CRLF) after the last header.", func(c *Ctx, t string) int {
			return lump(c, "hdr.append", msg.LumpAppend, "", t)
		}),
		FnStrStrInt("append_after", "Insert header text after the first header named hname (or at the end).", func(c *Ctx, t, h string) int {
			return lump(c, "hdr.append_after", msg.LumpAppendAfter, h, t)
		}),
		FnStrInt("insert", "Insert header text before the first header.", func(c *Ctx, t string) int {
			return lump(c, "hdr.insert", msg.LumpInsert, "", t)
		}),
		FnStrStrInt("insert_before", "Insert header text before the first header named hname (or at the end).", func(c *Ctx, t, h string) int {
			return lump(c, "hdr.insert_before", msg.LumpInsertBefore, h, t)
		}),
		FnStrInt("remove", "Remove every header with that name (compact forms included); 1 even if none.", func(c *Ctx, h string) int {
			return lump(c, "hdr.remove", msg.LumpRemove, h, "")
		}),
		FnStrStrInt("rmappend", "Remove headers named hrm, then append text.", func(c *Ctx, h, t string) int {
			if _, err := msg.CheckHeaderText(t); err != nil {
				return lump(c, "hdr.rmappend", msg.LumpAppend, "", t)
			}
			lump(c, "hdr.rmappend", msg.LumpRemove, h, "")
			return lump(c, "hdr.rmappend", msg.LumpAppend, "", t)
		}),
		FnStrStrInt("rminsert", "Remove headers named hrm, then insert text.", func(c *Ctx, h, t string) int {
			if _, err := msg.CheckHeaderText(t); err != nil {
				return lump(c, "hdr.rminsert", msg.LumpInsert, "", t)
			}
			lump(c, "hdr.rminsert", msg.LumpRemove, h, "")
			return lump(c, "hdr.rminsert", msg.LumpInsert, "", t)
		}),
		FnStrInt("is_present", "1 if a header with that name is present, -1 otherwise.", func(c *Ctx, h string) int {
			if _, ok := c.M.Header(h); ok {
				return 1
			}
			return -1
		}),
		FnStrInt("append_to_reply", "Add header text to the next locally generated reply.", func(c *Ctx, t string) int {
			if err := c.M.AddReplyLump(t); err != nil {
				c.Logger().Error("header text refused", zap.String("function", "hdr.append_to_reply"), zap.Error(err))
				return -1
			}
			return 1
		}),
		hdrGet("get", "Body of the first header with that name; nil when missing.", Nil),
		hdrGet("gete", "Body of the first header with that name; \"\" when missing.", StrV("")),
		hdrGet("getw", "Body of the first header with that name; \"<null>\" when missing.", StrV("<null>")),
		hdrGetIdx("get_idx", "Body of header number idx (0-based, negative from the end); nil when missing.", Nil),
		hdrGetIdx("gete_idx", "As get_idx; \"\" when missing.", StrV("")),
		hdrGetIdx("getw_idx", "As get_idx; \"<null>\" when missing.", StrV("<null>")),
		Fn("match_content", []ParamType{Str, Str, Str, Str}, RetBool,
			"Compare header bodies (trimmed, case-insensitive): op eq, ne, sw, in; which f(irst), l(ast), a(ll), o(ne).",
			func(c *Ctx, a *Args) Value {
				return BoolV(MatchContent(c.M.Headers(a.S[0]), a.S[1], a.S[2], a.S[3]))
			}),
	}
}
