package textops

import (
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/kemi"
)

type ctxExpander struct{ c *kemi.Ctx }

func (x ctxExpander) expand(s string) string { return x.c.Engine.ParseFormat(s).Expand(x.c) }

func (x ctxExpander) ruri() string {
	if x.c.M.Req == nil {
		return ""
	}
	return x.c.M.RURIString()
}

func logErr(c *kemi.Ctx, fn string, err error) int {
	c.Logger().Error("textops: "+err.Error(), zap.String("function", "textops."+fn))
	return -1
}

// scope selects the part of the view an operation works on.
type scope uint8

const (
	scopeAll scope = iota // headers and body
	scopeHdrs
	scopeBody
)

func (v *view) span(sc scope) (int, int) {
	switch sc {
	case scopeHdrs:
		return 0, v.hdrEnd
	case scopeBody:
		return v.bodyStart, len(v.text)
	}
	return 0, len(v.text)
}

// regexEdits finds the first (or every) match of re in the scope and turns
// each into an edit via mk.
func regexEdits(v *view, sc scope, flags, re string, all bool, mk func(s, e int) edit) ([]edit, error) {
	rx, err := compile(flags, re)
	if err != nil {
		return nil, err
	}
	a, b := v.span(sc)
	n := 1
	if all {
		n = -1
	}
	var out []edit
	for _, m := range rx.FindAllStringIndex(v.text[a:b], n) {
		out = append(out, mk(a+m[0], a+m[1]))
	}
	return out, nil
}

// strEdits finds a literal string (case-sensitive) in the scope.
func strEdits(v *view, sc scope, match, repl string, all bool) []edit {
	if match == "" {
		return nil
	}
	a, b := v.span(sc)
	var out []edit
	for pos := a; pos < b; {
		i := strings.Index(v.text[pos:b], match)
		if i < 0 {
			break
		}
		out = append(out, edit{pos + i, pos + i + len(match), repl})
		pos += i + len(match)
		if !all {
			break
		}
	}
	return out
}

// run builds the view, computes edits and applies them: 1 when something
// was changed, -1 when nothing matched or the result was refused.
func run(c *kemi.Ctx, fn string, f func(v *view) ([]edit, error)) int {
	st := getState(c.M)
	v := buildView(c.M, st)
	edits, err := f(v)
	if err != nil {
		return logErr(c, fn, err)
	}
	if len(edits) == 0 {
		return -1
	}
	if err := v.apply(c.M, st, edits); err != nil {
		return logErr(c, fn, err)
	}
	return 1
}

func replaceRe(c *kemi.Ctx, fn string, sc scope, flags, re, txt string, all bool) int {
	return run(c, fn, func(v *view) ([]edit, error) {
		return regexEdits(v, sc, flags, re, all, func(s, e int) edit { return edit{s, e, txt} })
	})
}

func searchAppend(c *kemi.Ctx, fn string, sc scope, re, txt string) int {
	return run(c, fn, func(v *view) ([]edit, error) {
		return regexEdits(v, sc, reSearch, re, false, func(_, e int) edit { return edit{e, e, txt} })
	})
}

func replaceStr(c *kemi.Ctx, fn string, sc scope, match, repl, mode string) int {
	all, ok := modeAll(mode)
	if !ok {
		return logErr(c, fn, errMode)
	}
	return run(c, fn, func(v *view) ([]edit, error) { return strEdits(v, sc, match, repl, all), nil })
}

func modeAll(mode string) (all, ok bool) {
	switch mode {
	case "a", "A":
		return true, true
	case "f", "F", "":
		return false, true
	}
	return false, false
}

func subst(c *kemi.Ctx, fn string, sc scope, expr string) int {
	x, err := parseSubstCached(expr)
	if err != nil {
		return logErr(c, fn, err)
	}
	return run(c, fn, func(v *view) ([]edit, error) {
		a, b := v.span(sc)
		es := x.edits(v.text[a:b], ctxExpander{c})
		for i := range es {
			es[i].s += a
			es[i].e += a
		}
		return es, nil
	})
}

// substString applies a substitution to s; changed is false without a match.
func substString(c *kemi.Ctx, x *substExpr, s string) (string, bool, error) {
	es := x.edits(s, ctxExpander{c})
	if len(es) == 0 {
		return s, false, nil
	}
	r, err := applyText(s, 0, es)
	return r, err == nil, err
}

func substURI(c *kemi.Ctx, expr string) int {
	x, err := parseSubstCached(expr)
	if err != nil {
		return logErr(c, "subst_uri", err)
	}
	if c.M.Req == nil {
		return -1
	}
	r, ok, err := substString(c, x, c.M.RURIString())
	if err != nil {
		return logErr(c, "subst_uri", err)
	}
	if !ok {
		return -1
	}
	if err := c.M.SetRURI(r); err != nil {
		return logErr(c, "subst_uri", err)
	}
	return 1
}

func substUser(c *kemi.Ctx, expr string) int {
	x, err := parseSubstCached(expr)
	if err != nil {
		return logErr(c, "subst_user", err)
	}
	u := c.M.RURI()
	if c.M.Req == nil || u == nil {
		return -1
	}
	r, ok, err := substString(c, x, u.User)
	if err != nil {
		return logErr(c, "subst_user", err)
	}
	if !ok {
		return -1
	}
	if msg.CheckValue(r) != nil || strings.ContainsAny(r, "@ \t<>;?") {
		return logErr(c, "subst_user", errBadUser)
	}
	if err := c.M.EditRURI(func(nu *sipURI) { nu.User = r }); err != nil {
		return logErr(c, "subst_user", err)
	}
	return 1
}

// substHf substitutes inside the bodies of the named headers: flags a (all),
// f (first) or l (last).
func substHf(c *kemi.Ctx, hname, expr, flags string) int {
	x, err := parseSubstCached(expr)
	if err != nil {
		return logErr(c, "subst_hf", err)
	}
	idx, err := selectHeaders(c.M, hname, flags)
	if err != nil {
		return logErr(c, "subst_hf", err)
	}
	st := getState(c.M)
	lines := map[int]string{}
	for _, i := range idx {
		line := st.line(c.M, i)
		if line == "" {
			continue
		}
		vs, ve := valueSpan(line)
		nv, ok, err := substString(c, x, line[vs:ve])
		if err != nil {
			return logErr(c, "subst_hf", err)
		}
		if !ok {
			continue
		}
		if strings.ContainsAny(nv, "\r\n\x00") {
			return logErr(c, "subst_hf", errInjection)
		}
		nl := unfold(line[:vs] + nv + line[ve:])
		if nl, err = msg.CheckHeaderText(nl); err != nil {
			return logErr(c, "subst_hf", err)
		}
		lines[i] = nl
	}
	if len(lines) == 0 {
		return -1
	}
	if err := commit(c.M, st, lines, nil); err != nil {
		return logErr(c, "subst_hf", err)
	}
	return 1
}

// valueSpan locates the header body in a header line: after the colon and
// leading white space, before trailing white space and the line end.
func valueSpan(line string) (int, int) {
	colon := strings.IndexByte(line, ':')
	s := colon + 1
	for s < len(line) && (line[s] == ' ' || line[s] == '\t') {
		s++
	}
	e := len(line)
	for e > s && strings.IndexByte(" \t\r\n", line[e-1]) >= 0 {
		e--
	}
	return s, e
}

func substV(c *kemi.Ctx, in, expr, pv string) int {
	x, err := parseSubstCached(expr)
	if err != nil {
		return logErr(c, "subst_v", err)
	}
	r, ok, err := substString(c, x, in)
	if err != nil {
		return logErr(c, "subst_v", err)
	}
	if !ok {
		return -1
	}
	if err := c.SetPV(pv, kemi.StrV(r)); err != nil {
		return logErr(c, "subst_v", err)
	}
	return 1
}
