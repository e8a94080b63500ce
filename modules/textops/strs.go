package textops

import (
	"errors"
	"strings"

	"github.com/luasbc/luasbc/kemi"
)

var errSep = errors.New("separator must be one character")

// listItems splits a list at a one-character separator; items are trimmed.
func listItems(list, sep string) ([]string, error) {
	if len(sep) != 1 {
		return nil, errSep
	}
	items := strings.Split(list, sep)
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items, nil
}

func inList(c *kemi.Ctx, fn, subject, list, sep string, prefix bool) int {
	items, err := listItems(list, sep)
	if err != nil {
		return logErr(c, fn, err)
	}
	for _, it := range items {
		if it == subject || prefix && it != "" && strings.HasPrefix(subject, it) {
			return 1
		}
	}
	return -1
}

// cmpResult maps an ordering to Kamailio's codes: 1 equal, -1 greater, -2 less.
func cmpResult(n int) int {
	switch {
	case n == 0:
		return 1
	case n > 0:
		return -1
	}
	return -2
}

func rc(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

func strAnyIn(s, chars string) int {
	if s == "" || chars == "" {
		return -1
	}
	return rc(strings.ContainsAny(s, chars))
}

func strAllIn(s, chars string) int {
	if s == "" || chars == "" {
		return -1
	}
	for i := 0; i < len(chars); i++ {
		if strings.IndexByte(s, chars[i]) < 0 {
			return -1
		}
	}
	return 1
}

func searchStr(c *kemi.Ctx, s, re string) int {
	rx, err := compile(reSearch, re)
	if err != nil {
		return logErr(c, "search_str", err)
	}
	return rc(rx.MatchString(s))
}

// regexSubstring stores group mindex (0 = whole match) of the first match of
// re in s into pvout. mcount is the size of Kamailio's match array (whole
// match included), so mindex must be below it.
func regexSubstring(c *kemi.Ctx, s, re string, mindex, mcount int, pvout string) int {
	rx, err := compile(rePlain, re)
	if err != nil {
		return logErr(c, "regex_substring", err)
	}
	if mindex < 0 || mindex > rx.NumSubexp() || mcount > 0 && mindex >= mcount {
		return logErr(c, "regex_substring", errors.New("match index out of range"))
	}
	m := rx.FindStringSubmatchIndex(s)
	if m == nil || m[2*mindex] < 0 {
		return -1
	}
	if err := c.SetPV(pvout, kemi.StrV(s[m[2*mindex]:m[2*mindex+1]])); err != nil {
		return logErr(c, "regex_substring", err)
	}
	return 1
}

func search(c *kemi.Ctx, fn, text, re string) int {
	rx, err := compile(reSearch, re)
	if err != nil {
		return logErr(c, fn, err)
	}
	return rc(rx.MatchString(text))
}
