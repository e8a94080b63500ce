package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
)

const htableUsage = "htable: want list, dump TABLE, get TABLE KEY, set TABLE KEY VALUE (--int for a number), rm TABLE KEY"

func init() {
	verbs["htable"] = []string{"list", "dump", "get", "set", "rm"}
}

// translateHtable maps the htable verbs to the module's RPCs.
func translateHtable(a []string, o options) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New(htableUsage)
	}
	want := map[string]int{"list": 1, "tables": 1, "dump": 2, "get": 3, "set": 4, "rm": 3, "del": 3, "delete": 3}
	n, known := want[a[0]]
	if !known {
		return "", nil, nil, fmt.Errorf("unknown verb %q; %s", a[0], htableUsage)
	}
	if len(a) != n {
		return "", nil, nil, errors.New(htableUsage)
	}
	switch a[0] {
	case "list", "tables":
		return "htable.listTables", nil, printHtables, nil
	case "dump":
		return "htable.dump", []any{a[1]}, printHtableDump, nil
	case "get":
		return "htable.get", []any{a[1], a[2]}, printHtableItem, nil
	case "set":
		if o.asInt {
			v, err := strconv.ParseInt(a[3], 10, 64)
			if err != nil {
				return "", nil, nil, fmt.Errorf("htable set --int: %q is not an integer", a[3])
			}
			return "htable.seti", []any{a[1], a[2], v}, said(a[1] + "[" + a[2] + "] = " + a[3]), nil
		}
		return "htable.sets", []any{a[1], a[2], a[3]}, said(a[1] + "[" + a[2] + "] = " + strconv.Quote(a[3])), nil
	}
	return "htable.delete", []any{a[1], a[2]}, said(a[1] + "[" + a[2] + "] deleted"), nil
}

// htItem is an item of htable.dump or htable.get.
type htItem struct {
	Name   string `json:"name"`
	Value  any    `json:"value"`
	Expire string `json:"expire"`
	TTL    *int64 `json:"ttl"`
}

func (it htItem) value() string {
	if s, ok := it.Value.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(it.Value)
}

func (it htItem) ttl() string {
	if it.TTL == nil || *it.TTL < 0 {
		return "never"
	}
	return strconv.FormatInt(*it.TTL, 10) + "s"
}

func printHtableDump(w io.Writer, raw json.RawMessage) error {
	var slots []struct {
		Slot []htItem `json:"slot"`
	}
	if err := json.Unmarshal(raw, &slots); err != nil {
		return fmt.Errorf("unexpected htable.dump result: %v", err)
	}
	var items []htItem
	for _, s := range slots {
		items = append(items, s.Slot...)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tEXPIRES IN")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Name, it.value(), it.ttl())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d items\n", len(items))
	return err
}

func printHtableItem(w io.Writer, raw json.RawMessage) error {
	var r struct{ Item htItem }
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("unexpected htable.get result: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tEXPIRES")
	fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Item.Name, r.Item.value(), r.Item.Expire)
	return tw.Flush()
}

func printHtables(w io.Writer, raw json.RawMessage) error {
	var ts []struct {
		Name    string `json:"name"`
		DBTable string `json:"dbtable"`
		Expire  int64  `json:"expire"`
		Size    int64  `json:"size"`
		Redis   int    `json:"redis"`
	}
	if err := json.Unmarshal(raw, &ts); err != nil {
		return fmt.Errorf("unexpected htable.listTables result: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSLOTS\tAUTOEXPIRE\tDBTABLE\tREDIS")
	for _, t := range ts {
		redis := map[bool]string{true: "yes", false: "-"}[t.Redis == 1]
		fmt.Fprintf(tw, "%s\t%d\t%ds\t%s\t%s\n", t.Name, t.Size, t.Expire, nullDash(t.DBTable), redis)
	}
	return tw.Flush()
}
