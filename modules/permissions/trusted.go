package permissions

import (
	"regexp"
	"slices"

	"github.com/luasbc/luasbc/core/msg"
)

// trustedEntry is one rule of the trusted table: requests from src over
// proto whose From URI and R-URI match the patterns are trusted.
type trustedEntry struct {
	src      string    // canonical text when it is an IP address
	proto    msg.Proto // ProtoNone = any
	from     *regexp.Regexp
	ruri     *regexp.Regexp
	fromText *string // nil = NULL (no constraint)
	ruriText *string
	tag      string
	hasTag   bool
	priority int64
}

// trustedTable is an immutable, loaded trusted table: the entries of each
// source address, highest priority first (load order among equals).
type trustedTable struct {
	bySrc   map[string][]*trustedEntry
	entries []*trustedEntry // all, in dump order
}

func newTrustedTable(entries []*trustedEntry) *trustedTable {
	t := &trustedTable{bySrc: map[string][]*trustedEntry{}, entries: entries}
	for _, e := range entries {
		t.bySrc[e.src] = append(t.bySrc[e.src], e)
	}
	for _, list := range t.bySrc {
		sortByPriority(list)
	}
	t.entries = slices.Clone(entries)
	sortByPriority(t.entries)
	return t
}

func sortByPriority(list []*trustedEntry) {
	slices.SortStableFunc(list, func(a, b *trustedEntry) int {
		switch {
		case a.priority > b.priority:
			return -1
		case a.priority < b.priority:
			return 1
		}
		return 0
	})
}

// trustedRequest is what a request is matched with.
type trustedRequest struct {
	src   string    // source address, canonical
	proto msg.Proto // ProtoNone: the caller asked for "any"
	furi  string    // From URI (or the URI the caller gave)
	ruri  string    // Request-URI as received; "" for replies
	isReq bool
}

// matches reports whether e trusts r.
func (e *trustedEntry) matches(r *trustedRequest) bool {
	if e.proto != msg.ProtoNone && r.proto != msg.ProtoNone && e.proto != r.proto {
		return false
	}
	if e.from != nil && !e.from.MatchString(r.furi) {
		return false
	}
	if e.ruri != nil && r.isReq && !e.ruri.MatchString(r.ruri) {
		return false
	}
	return true
}

// matchEntries returns the entries of list that trust r: the first one,
// or all with all set (peer_tag_mode 1).
func matchEntries(list []*trustedEntry, r *trustedRequest, all bool) []*trustedEntry {
	var out []*trustedEntry
	for _, e := range list {
		if e.matches(r) {
			out = append(out, e)
			if !all {
				break
			}
		}
	}
	return out
}

func (t *trustedTable) match(r *trustedRequest, all bool) []*trustedEntry {
	return matchEntries(t.bySrc[r.src], r, all)
}
