package secfilter

import (
	"context"
	"errors"
	"fmt"

	"github.com/luasbc/luasbc/core/rpc"
)

// RPC implements kemi.RPCProvider with Kamailio's secfilter.* commands.
func (s *SecFilter) RPC() []rpc.Method {
	return []rpc.Method{
		{Name: "secfilter.reload", Doc: "Reload the lists (and the GeoIP database) from the table; on error the current ones stay.", Fn: s.rpcReload},
		{Name: "secfilter.print", Params: "[ua|country|domain|ip|user|dst]", Doc: "Print the blacklisted and whitelisted values, all or of one type.", Fn: s.rpcPrint},
		{Name: "secfilter.stats", Doc: "Print statistics of blocked and allowed messages.", Fn: s.rpcStats},
		{Name: "secfilter.stats_reset", Doc: "Reset the statistics.", Fn: s.rpcStatsReset},
		{Name: "secfilter.add_dst", Params: "number", Doc: "Add a number to the destination blacklist (until the next reload).", Fn: s.rpcAddDst},
		{Name: "secfilter.add_bl", Params: "type value", Doc: "Add a value to the blacklist; type is ua, country, domain, ip or user (until the next reload).", Fn: s.rpcAdd(Blacklist)},
		{Name: "secfilter.add_wl", Params: "type value", Doc: "Add a value to the whitelist; type is ua, country, domain, ip or user (until the next reload).", Fn: s.rpcAdd(Whitelist)},
		{Name: "secfilter.del_dst", Params: "number", Doc: "Remove a number from the destination blacklist (until the next reload).", Fn: s.rpcDelDst},
		{Name: "secfilter.del_bl", Params: "type value", Doc: "Remove a value from the blacklist (until the next reload).", Fn: s.rpcDel(Blacklist)},
		{Name: "secfilter.del_wl", Params: "type value", Doc: "Remove a value from the whitelist (until the next reload).", Fn: s.rpcDel(Whitelist)},
	}
}

func (s *SecFilter) rpcReload(ctx context.Context, _ rpc.Params) (any, error) {
	if s.src == nil && s.geoPath == "" {
		return nil, rpc.Errorf(500, "Error loading data from database: no db_url configured")
	}
	if _, err := s.Reload(ctx); err != nil {
		if errors.Is(err, errReloadTooSoon) {
			return nil, rpc.Errorf(500, "ongoing reload")
		}
		return nil, rpc.Errorf(500, "Error loading data from database: %v", err)
	}
	return "Data reloaded", nil
}

// printSections are secfilter.print's sections: type argument, title.
var printSections = []struct {
	arg, title string
	typ        Type
}{
	{"ua", "User-Agent", TypeUA},
	{"country", "Country", TypeCountry},
	{"domain", "Domain", TypeDomain},
	{"ip", "IP-Address", TypeIP},
	{"user", "Username", TypeUser},
}

// rpcPrint answers as Kamailio's structured secfilter.print, with the values
// of each list as an array:
// {"User-Agent": {"Blacklisted": [...], "Whitelisted": [...]}, ..., "Destinations": {"Blacklisted": [...]}}.
func (s *SecFilter) rpcPrint(_ context.Context, p rpc.Params) (any, error) {
	which, _ := p.Str(0)
	if which != "" && which != "dst" {
		if _, err := ParseType(which); err != nil {
			return nil, rpc.Errorf(500, "%v (or dst)", err)
		}
	}
	rules := s.lists.Load().rules
	out := map[string]any{}
	if which == "" || which == "dst" {
		dst := []string{}
		for _, r := range rules {
			if r.Action == Destination {
				dst = append(dst, r.Data)
			}
		}
		out["Destinations"] = map[string]any{"Blacklisted": dst}
	}
	for _, sec := range printSections {
		if which != "" && which != sec.arg {
			continue
		}
		bl, wl := []string{}, []string{}
		for _, r := range rules {
			if r.Type != sec.typ {
				continue
			}
			switch r.Action {
			case Blacklist:
				bl = append(bl, r.Data)
			case Whitelist:
				wl = append(wl, r.Data)
			}
		}
		out[sec.title] = map[string]any{"Blacklisted": bl, "Whitelisted": wl}
	}
	return out, nil
}

func (s *SecFilter) rpcStats(context.Context, rpc.Params) (any, error) {
	return s.stats.snapshot(), nil
}

func (s *SecFilter) rpcStatsReset(context.Context, rpc.Params) (any, error) {
	s.stats.reset()
	return "The statistics has been reset", nil
}

// rpcAddDst takes the number as text: Kamailio reads an integer, which loses
// a leading '+' or '0'; any digits (or number text) are accepted here.
func (s *SecFilter) rpcAddDst(_ context.Context, p rpc.Params) (any, error) {
	n, ok := p.Str(0)
	if !ok || n == "" {
		return nil, rpc.Errorf(500, "Invalid Parameters. Usage: secfilter.add_dst number")
	}
	if err := s.Add(Rule{Action: Destination, Type: TypeUA, Data: n}); err != nil {
		return nil, rpc.Errorf(500, "Error insert values in the blacklist: %v", err)
	}
	return fmt.Sprintf("Values (%s) inserted into blacklist destinations", n), nil
}

func (s *SecFilter) rpcAdd(a Action) func(context.Context, rpc.Params) (any, error) {
	return func(_ context.Context, p rpc.Params) (any, error) {
		r, name, err := typeValue(p, a, "add")
		if err != nil {
			return nil, err
		}
		if err := s.Add(r); err != nil {
			return nil, rpc.Errorf(500, "Error inserting values in the %s: %v", a, err)
		}
		return fmt.Sprintf("Values (%s, %s) inserted into %s", name, r.Data, a), nil
	}
}

func (s *SecFilter) rpcDelDst(_ context.Context, p rpc.Params) (any, error) {
	n, ok := p.Str(0)
	if !ok || n == "" {
		return nil, rpc.Errorf(500, "Invalid Parameters. Usage: secfilter.del_dst number")
	}
	return s.del(Rule{Action: Destination, Type: TypeUA, Data: n}, "blacklist destinations")
}

func (s *SecFilter) rpcDel(a Action) func(context.Context, rpc.Params) (any, error) {
	return func(_ context.Context, p rpc.Params) (any, error) {
		r, _, err := typeValue(p, a, "del")
		if err != nil {
			return nil, err
		}
		return s.del(r, a.String())
	}
}

func (s *SecFilter) del(r Rule, list string) (any, error) {
	n, err := s.Remove(r)
	if err != nil {
		return nil, rpc.Errorf(500, "Error deleting values from the %s: %v", list, err)
	}
	if n == 0 {
		return nil, rpc.Errorf(500, "Value (%s) not found in the %s", r.Data, list)
	}
	return fmt.Sprintf("Values (%s) deleted from %s", r.Data, list), nil
}

// typeValue reads the "type value" arguments of add_bl/add_wl/del_bl/del_wl.
func typeValue(p rpc.Params, a Action, verb string) (Rule, string, error) {
	name, ok1 := p.Str(0)
	val, ok2 := p.Str(1)
	if !ok1 || !ok2 || name == "" || val == "" {
		ex := "user sipvicious"
		if a == Whitelist {
			ex = "user trusted_user"
		}
		return Rule{}, "", rpc.Errorf(500, "Invalid Parameters. Usage: secfilter.%s_%s type value (example: %s)",
			verb, map[Action]string{Blacklist: "bl", Whitelist: "wl"}[a], ex)
	}
	t, err := ParseType(name)
	if err != nil {
		return Rule{}, "", rpc.Errorf(500, "%v", err)
	}
	return Rule{Action: a, Type: t, Data: val}, name, nil
}
