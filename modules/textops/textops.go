// Package textops implements Kamailio's textops module (KSR.textops.*):
// regular-expression search, replace and substitution over the message,
// header removal, body setting and string helpers.
//
// Searches look at the message as received. Edits become header lumps and a
// new body, applied when the message is sent; header text that would carry
// CR, LF or NUL into a header (injection) is refused with -1.
package textops

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "textops",
		Doc:  "Text operations on the message: regex search/replace/subst (POSIX ERE semantics, case-insensitive unless stated), header removal, bodies and string helpers.",
		New:  func(*kemi.Env) (kemi.Instance, error) { return textops{}, nil },
	})
}

type textops struct{}

type (
	args = kemi.Args
	ctx  = kemi.Ctx
)

const (
	str  = kemi.Str
	intp = kemi.Int
)

func ss(name, doc string, f func(c *ctx, a, b string) int) kemi.Export {
	return kemi.FnStrStrInt(name, doc, f)
}

func sss(name, doc string, f func(c *ctx, a, b, d string) int) kemi.Export {
	return kemi.FnStrStrStrInt(name, doc, f)
}

func notSupported(name string, params ...kemi.ParamType) kemi.Export {
	return kemi.Fn(name, params, kemi.RetInt, "Not supported in luasbc: logs an error and returns -1.",
		func(c *ctx, _ *args) kemi.Value {
			c.Logger().Error("not supported", zap.String("function", "textops."+name))
			return kemi.IntV(-1)
		})
}

// Exports implements kemi.Instance.
func (textops) Exports() []kemi.Export {
	out := []kemi.Export{
		kemi.FnStrInt("search", "1 if the regex matches the received message (first line included), else -1.",
			func(c *ctx, re string) int { return search(c, "search", c.M.Buf, re) }),
		kemi.FnStrInt("search_body", "1 if the regex matches the received body, else -1.",
			func(c *ctx, re string) int { return search(c, "search_body", c.M.Body(), re) }),
		sss("search_hf", "1 if the regex matches the body of a header named hname; flags a (all), f (first), l (last).", searchHf),
		ss("search_str", "1 if the regex matches the text, else -1.", func(c *ctx, s, re string) int { return searchStr(c, s, re) }),
		ss("search_append", "Append txt after the first match in the headers or body. 1 done, -1 no match or refused.",
			func(c *ctx, re, txt string) int { return searchAppend(c, "search_append", scopeAll, re, txt) }),
		ss("search_append_body", "Append txt after the first match in the body. 1 done, -1 no match.",
			func(c *ctx, re, txt string) int { return searchAppend(c, "search_append_body", scopeBody, re, txt) }),
		ss("replace", "Replace the first match in the headers or body with txt. 1 done, -1 no match or refused.",
			func(c *ctx, re, txt string) int { return replaceRe(c, "replace", scopeAll, reSearch, re, txt, false) }),
		ss("replace_all", "Replace every match in the headers and body with txt.",
			func(c *ctx, re, txt string) int {
				return replaceRe(c, "replace_all", scopeAll, reSearch, re, txt, true)
			}),
		ss("replace_hdrs", "Replace the first match in the headers with txt.",
			func(c *ctx, re, txt string) int {
				return replaceRe(c, "replace_hdrs", scopeHdrs, reSearch, re, txt, false)
			}),
		ss("replace_body", "Replace the first match in the body with txt.",
			func(c *ctx, re, txt string) int {
				return replaceRe(c, "replace_body", scopeBody, reSearch, re, txt, false)
			}),
		ss("replace_body_all", "Replace every match in the body, line by line (^ and $ anchor at each line).",
			func(c *ctx, re, txt string) int {
				return replaceRe(c, "replace_body_all", scopeBody, reSearch, re, txt, true)
			}),
		ss("replace_body_atonce", "Replace every match in the body taken as one text ('.' matches newlines).",
			func(c *ctx, re, txt string) int {
				return replaceRe(c, "replace_body_atonce", scopeBody, reWhole, re, txt, true)
			}),
		sss("replace_str", "Replace a literal string in the headers and body; mode f (first) or a (all).",
			func(c *ctx, m, r, mode string) int { return replaceStr(c, "replace_str", scopeAll, m, r, mode) }),
		sss("replace_hdrs_str", "Replace a literal string in the headers; mode f or a.",
			func(c *ctx, m, r, mode string) int { return replaceStr(c, "replace_hdrs_str", scopeHdrs, m, r, mode) }),
		sss("replace_body_str", "Replace a literal string in the body; mode f or a.",
			func(c *ctx, m, r, mode string) int { return replaceStr(c, "replace_body_str", scopeBody, m, r, mode) }),
		kemi.FnStrInt("subst", "sed-like /re/repl/flags over the headers and body (flags i, g, s; repl may hold \\0-\\9, \\u and $pv). 1 replaced, -1 not.",
			func(c *ctx, e string) int { return subst(c, "subst", scopeAll, e) }),
		kemi.FnStrInt("subst_body", "As subst, over the body.", func(c *ctx, e string) int { return subst(c, "subst_body", scopeBody, e) }),
		kemi.FnStrInt("subst_uri", "As subst, over the R-URI (the result must be a valid URI).", substURI),
		kemi.FnStrInt("subst_user", "As subst, over the R-URI user part.", substUser),
		sss("subst_hf", "As subst, over the bodies of the headers named hname; flags a (all), f (first), l (last).", substHf),
		sss("subst_v", "Apply a substitution to a text and store the result in a PV. 1 replaced, -1 no match.", substV),
		kemi.FnStrInt("is_present_hf", "1 if a header with that name (compact forms too) is present, else -1.",
			func(c *ctx, h string) int { _, ok := c.M.Header(h); return rc(ok) }),
		kemi.FnStrInt("is_present_hf_re", "1 if a header name matches the regex, else -1.", isPresentHfRe),
		kemi.FnStrInt("remove_hf", "Remove every header with that name (compact forms too). Number removed, -1 if none.", removeHf),
		kemi.FnStrInt("remove_hf_re", "Remove the headers whose name matches the regex. Number removed, -1 if none.", removeHfRe),
		ss("remove_hf_exp", "Remove headers whose name matches the first regex and not the second. Number removed, -1 if none.", removeHfExp),
		kemi.FnStrIntInt("remove_hf_idx", "Remove header number idx with that name (0 first, -1 last). 1 removed, -1 none.", removeHfIdx),
		sss("remove_hf_match", "Remove headers named hname whose body matches expr by op: eq, ne, in (contains), re (regex).", removeHfMatch),
		kemi.Fn0Int("has_body", "1 if the message has a body (and no Content-Length: 0), else -1.", func(c *ctx) int { return rc(hasBody(c.M)) }),
		kemi.FnStrInt("has_body_type", "1 if the message has a body of this media type (no Content-Type means application/sdp).",
			func(c *ctx, t string) int { return rc(hasBody(c.M) && contentType(c.M) == mediaType(t)) }),
		ss("set_body", "Set the body and its Content-Type. 1 ok, -1 error.", func(c *ctx, b, t string) int { return setBody(c, "set_body", b, t) }),
		ss("set_body_hex", "As set_body with the body given in hex (spaces ignored).", setBodyHex),
		kemi.FnStrInt("filter_body", "Keep only the content of the first part of this type of a multipart body. 1 ok, -1 not found.", filterBody),
		ss("get_body_part", "Store the content of the first body part of this type in a PV. 1 ok, -1 not found.",
			func(c *ctx, t, pv string) int { return getBodyPart(c, "get_body_part", t, pv, false) }),
		ss("get_body_part_raw", "As get_body_part, including the delimiter line and part headers.",
			func(c *ctx, t, pv string) int { return getBodyPart(c, "get_body_part_raw", t, pv, true) }),
		kemi.FnStrInt("remove_body_part", "Remove the first body part of this type. 1 ok, -1 not found.", removeBodyPart),
		kemi.Fn0Int("is_audio_on_hold", "1 if an audio stream is on hold by c=0.0.0.0 (RFC 2543), 2 by sendonly/inactive (RFC 3264), -1 otherwise.",
			func(c *ctx) int {
				sdp, ok := sdpBody(c.M)
				if !ok {
					return -1
				}
				if h := audioHold(sdp); h > 0 {
					return h
				}
				return -1
			}),
		kemi.FnStrInt("is_privacy", "1 if the Privacy header lists this value (id, user, header, session, none, critical, history), else -1.",
			func(c *ctx, v string) int { return rc(isPrivacy(c.M, v)) }),
		sss("in_list", "1 if subject equals an item of list (one-character separator), else -1.",
			func(c *ctx, s, l, sep string) int { return inList(c, "in_list", s, l, sep, false) }),
		sss("in_list_prefix", "1 if an item of list is a prefix of subject, else -1.",
			func(c *ctx, s, l, sep string) int { return inList(c, "in_list_prefix", s, l, sep, true) }),
		ss("cmp_str", "1 if equal (case-sensitive), -1 if the first is greater, -2 if smaller.",
			func(_ *ctx, a, b string) int { return cmpResult(strings.Compare(a, b)) }),
		ss("cmp_istr", "As cmp_str, case-insensitive.",
			func(_ *ctx, a, b string) int {
				return cmpResult(strings.Compare(strings.ToLower(a), strings.ToLower(b)))
			}),
		ss("starts_with", "1 if the first string starts with the second, else -1.",
			func(_ *ctx, a, b string) int { return rc(strings.HasPrefix(a, b)) }),
		ss("ends_with", "1 if the first string ends with the second, else -1.",
			func(_ *ctx, a, b string) int { return rc(strings.HasSuffix(a, b)) }),
		ss("str_find", "1 if the second string occurs in the first (case-sensitive), else -1.",
			func(_ *ctx, a, b string) int { return rc(strings.Contains(a, b)) }),
		ss("str_ifind", "As str_find, case-insensitive.",
			func(_ *ctx, a, b string) int { return rc(strings.Contains(strings.ToLower(a), strings.ToLower(b))) }),
		ss("str_any_in", "1 if any character of the second string occurs in the first, else -1.",
			func(_ *ctx, a, b string) int { return strAnyIn(a, b) }),
		ss("str_all_in", "1 if every character of the second string occurs in the first, else -1.",
			func(_ *ctx, a, b string) int { return strAllIn(a, b) }),
		kemi.Fn("regex_substring", []kemi.ParamType{str, str, intp, intp, str}, kemi.RetInt,
			"Store group mindex (0 = whole match) of the first match of the regex (case-sensitive) in the PV. 1 ok, -1 no match or error.",
			func(c *ctx, a *args) kemi.Value {
				return kemi.IntV(regexSubstring(c, a.S[0], a.S[1], int(a.I[2]), int(a.I[3]), a.S[4]))
			}),
	}
	return append(out,
		notSupported("set_reply_body", str, str),
		notSupported("set_reply_body_hex", str, str),
		notSupported("set_body_multipart", str, str, str),
		notSupported("set_body_multipart_boundary", str),
		notSupported("set_body_multipart_content", str, str),
		notSupported("set_body_multipart_mode"),
		notSupported("append_body_part", str, str),
		notSupported("append_body_part_cd", str, str, str),
		notSupported("append_body_part_hex", str, str),
		notSupported("append_body_part_hex_cd", str, str, str),
	)
}
