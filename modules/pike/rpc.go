package pike

import (
	"context"
	"strings"

	"github.com/luasbc/luasbc/core/rpc"
)

// topResult is pike.top's answer, in Kamailio's shape.
type topResult struct {
	MaxHits      uint32   `json:"max_hits"`
	List         []topRow `json:"list"`
	NumberOfRows int      `json:"number_of_rows"`
}

type topRow struct {
	IPAddr       string `json:"ip_addr"`
	LeafHitsPrev uint32 `json:"leaf_hits_prev"`
	LeafHitsCurr uint32 `json:"leaf_hits_curr"`
	Expires      int64  `json:"expires"`
	Status       string `json:"status"`
}

// topFilter reads pike.top's argument as Kamailio does (the first of ALL,
// HOT, WARM found in it; HOT when missing), case-insensitively.
func topFilter(arg string) (func(status string) bool, bool) {
	a := strings.ToUpper(arg)
	switch {
	case strings.TrimSpace(a) == "":
		return func(st string) bool { return st == statusHot }, true
	case strings.Contains(a, "ALL"):
		return func(string) bool { return true }, true
	case strings.Contains(a, "HOT"):
		return func(st string) bool { return st == statusHot }, true
	case strings.Contains(a, "WARM"):
		return func(st string) bool { return st == statusWarm }, true
	}
	return nil, false
}

func (x *pike) top(_ context.Context, p rpc.Params) (any, error) {
	arg, _ := p.Str(0)
	keep, ok := topFilter(arg)
	if !ok {
		return nil, rpc.Errorf(500, "Bad argument. Select: ALL, HOT or WARM")
	}
	rows := x.t.snapshot(keep)
	res := topResult{MaxHits: x.t.cfg.limit, List: make([]topRow, 0, len(rows)), NumberOfRows: len(rows)}
	for _, r := range rows {
		res.List = append(res.List, topRow{IPAddr: x.keyer.show(r.key), LeafHitsPrev: r.prev,
			LeafHitsCurr: r.curr, Expires: r.expires, Status: r.status})
	}
	return res, nil
}

// RPC implements kemi.RPCProvider: pike.top and its alias pike.list.
func (x *pike) RPC() []rpc.Method {
	const params = "[ALL|HOT|WARM]"
	return []rpc.Method{
		{Name: "pike.top", Params: params, Doc: "Sources being tracked, most requests first: HOT (flooding, the default), WARM (a quarter of the limit) or ALL.", Fn: x.top},
		{Name: "pike.list", Params: params, Doc: "Alias for pike.top.", Fn: x.top},
	}
}
