package textops

import (
	"errors"
	"sort"
	"strings"

	"github.com/luasbc/luasbc/core/msg"
)

// Edits are kept as header lumps and a new body, as the core applies them
// when the message is sent. Unlike Kamailio, where two changes to the same
// text produce overlapping lumps, successive textops edits in one route
// stack: each one sees the headers and body as earlier ones left them.

// editState is the per-message record of header lines rewritten by textops.
type editState struct {
	lines map[int]string      // header index -> current text ("" = removed)
	lumps map[string]msg.Lump // header group -> the lump carrying it
}

const stateKey = "textops.edits"

func getState(m *msg.Msg) *editState {
	st, _ := m.GetExt(stateKey).(*editState)
	if st == nil {
		st = &editState{lines: map[int]string{}, lumps: map[string]msg.Lump{}}
		m.SetExt(stateKey, st)
	}
	return st
}

// unfold joins folded lines (RFC 3261 §7.3.1: a fold is one space), so that
// rewritten header text passes the injection check.
func unfold(v string) string {
	if !strings.Contains(v, "\n") {
		return v
	}
	v = strings.NewReplacer("\r\n ", " ", "\r\n\t", " ").Replace(v)
	return v
}

// line is the current text of header i, with its CRLF.
func (st *editState) line(m *msg.Msg, i int) string {
	if l, ok := st.lines[i]; ok {
		return l
	}
	return m.Buf[m.Hdrs[i].Start:m.Hdrs[i].End]
}

// body is the current body: set or edited in this route, else as received.
func body(m *msg.Msg) string {
	if m.NewBody != nil {
		return *m.NewBody
	}
	return m.Body()
}

// view is the message from the first header on, as edits so far left it.
// The first line is not part of it: as in Kamailio, replace and subst never
// touch the request line (the R-URI has its own functions).
type view struct {
	text      string
	hs, he    []int // span of each header in text (empty when removed)
	hdrEnd    int   // end of the header block
	bodyStart int
}

func buildView(m *msg.Msg, st *editState) *view {
	v := &view{hs: make([]int, len(m.Hdrs)), he: make([]int, len(m.Hdrs))}
	var b strings.Builder
	for i := range m.Hdrs {
		v.hs[i] = b.Len()
		b.WriteString(st.line(m, i))
		v.he[i] = b.Len()
	}
	v.hdrEnd = b.Len()
	sepStart := m.FirstEnd
	if n := len(m.Hdrs); n > 0 {
		sepStart = m.Hdrs[n-1].End
	}
	b.WriteString(m.Buf[sepStart:m.BodyOff])
	v.bodyStart = b.Len()
	b.WriteString(body(m))
	v.text = b.String()
	return v
}

// edit replaces text[s:e] with repl.
type edit struct {
	s, e int
	repl string
}

// maxResult bounds what an edit may grow the message to (replace_all with
// an empty match inserts at every position).
const maxResult = 1 << 18

var (
	errSpans     = errors.New("a match spans the end of the headers")
	errInjection = errors.New("header text refused: it would start a new header line or holds CR, LF or NUL")
	errTooLarge  = errors.New("result too large")
)

// applyText applies sorted, non-overlapping edits (offsets relative to base).
func applyText(s string, base int, edits []edit) (string, error) {
	var b strings.Builder
	pos := 0
	for _, e := range edits {
		b.WriteString(s[pos : e.s-base])
		b.WriteString(e.repl)
		pos = e.e - base
		if b.Len() > maxResult {
			return "", errTooLarge
		}
	}
	b.WriteString(s[pos:])
	return b.String(), nil
}

// apply turns edits on the view into header lines and a new body, checks
// them and commits them to the message.
func (v *view) apply(m *msg.Msg, st *editState, edits []edit) error {
	var hdrEdits, bodyEdits []edit
	for _, e := range edits {
		switch {
		case e.e <= v.hdrEnd:
			hdrEdits = append(hdrEdits, e)
		case e.s >= v.bodyStart:
			bodyEdits = append(bodyEdits, e)
		default:
			return errSpans
		}
	}
	lines, err := v.headerLines(hdrEdits)
	if err != nil {
		return err
	}
	var newBody *string
	if len(bodyEdits) > 0 {
		b, err := applyText(v.text[v.bodyStart:], v.bodyStart, bodyEdits)
		if err != nil {
			return err
		}
		newBody = &b
	}
	return commit(m, st, lines, newBody)
}

// headerLines groups header edits into clusters of consecutive headers (an
// edit may span several lines) and returns the new text of each header: the
// whole cluster goes to its first header, the others become empty.
func (v *view) headerLines(edits []edit) (map[int]string, error) {
	if len(edits) == 0 {
		return nil, nil
	}
	type cluster struct {
		first, last int
		edits       []edit
	}
	var cls []*cluster
	for _, e := range edits {
		first, last := v.touched(e)
		if first < 0 {
			return nil, errors.New("no header to edit")
		}
		if n := len(cls); n > 0 && first <= cls[n-1].last {
			cl := cls[n-1]
			cl.last = max(cl.last, last)
			cl.edits = append(cl.edits, e)
			continue
		}
		cls = append(cls, &cluster{first, last, []edit{e}})
	}
	lines := map[int]string{}
	for _, cl := range cls {
		cs, ce := v.hs[cl.first], v.he[cl.last]
		t, err := applyText(v.text[cs:ce], cs, cl.edits)
		if err != nil {
			return nil, err
		}
		// Edits may change, join or delete header lines but never start a
		// new one: that would let data (a $pv, a received value) inject
		// headers or a body. A CR kept before the line end is harmless.
		if strings.Count(t, "\n") > strings.Count(v.text[cs:ce], "\n") || strings.IndexByte(t, 0) >= 0 {
			return nil, errInjection
		}
		t = unfold(t)
		if t != "" {
			if t, err = msg.CheckHeaderText(t); err != nil {
				return nil, err
			}
		}
		lines[cl.first] = t
		for i := cl.first + 1; i <= cl.last; i++ {
			lines[i] = ""
		}
	}
	return lines, nil
}

// touched returns the first and last header an edit overlaps; an insertion
// belongs to the header it is in or that ends where it is.
func (v *view) touched(e edit) (first, last int) {
	first, last = -1, -1
	for i := range v.hs {
		if v.hs[i] < v.he[i] && v.hs[i] < e.e && e.s < v.he[i] {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first >= 0 {
		return first, last
	}
	for i := range v.hs {
		if v.hs[i] < v.he[i] && v.hs[i] <= e.s && e.s <= v.he[i] {
			return i, i
		}
	}
	return -1, -1
}

// commit installs new header lines and body. Headers are replaced per name
// group with one lump (the core's lumps work on names), carrying every
// header of that name in order, rewritten or not.
func commit(m *msg.Msg, st *editState, lines map[int]string, newBody *string) error {
	groups := map[string]string{} // group -> header name to use in the lump
	for i := range lines {
		g := msg.CanonName(m.Hdrs[i].Name)
		if _, ok := groups[g]; !ok {
			groups[g] = m.Hdrs[i].Name
		}
	}
	cur := func(i int) string {
		if l, ok := lines[i]; ok {
			return l
		}
		return unfold(st.line(m, i))
	}
	texts := map[string]string{}
	for g := range groups {
		var b strings.Builder
		for i := range m.Hdrs {
			if msg.CanonName(m.Hdrs[i].Name) == g {
				b.WriteString(cur(i))
			}
		}
		t := b.String()
		if t != "" {
			var err error
			if t, err = msg.CheckHeaderText(t); err != nil {
				return err
			}
		}
		texts[g] = t
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names) // deterministic lump order
	for _, g := range names {
		if old, ok := st.lumps[g]; ok {
			dropLump(m, old)
		}
		op := msg.LumpReplace
		if texts[g] == "" {
			op = msg.LumpRemove
		}
		// Cannot fail: names come from the message and texts were checked.
		if err := m.AddLump(op, groups[g], texts[g]); err != nil {
			return err
		}
		st.lumps[g] = m.Lumps[len(m.Lumps)-1]
	}
	for i, l := range lines {
		st.lines[i] = l
	}
	if newBody != nil {
		m.NewBody = newBody
	}
	return nil
}

func dropLump(m *msg.Msg, l msg.Lump) {
	for i := range m.Lumps {
		if m.Lumps[i] == l {
			m.Lumps = append(m.Lumps[:i:i], m.Lumps[i+1:]...)
			return
		}
	}
}
