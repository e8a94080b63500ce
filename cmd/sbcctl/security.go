package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// banTable is the htable lua/default.lua keeps bans in.
const banTable = "ipban"

// banRow is one ban from htable.dump.
type banRow struct {
	IP     string
	Reason string
	TTL    int64 // seconds left, -1 never expires
}

// parseBans flattens htable.dump's slots into rows sorted by IP.
func parseBans(raw json.RawMessage) ([]banRow, error) {
	var slots []struct {
		Slot []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
			TTL   int64  `json:"ttl"`
		} `json:"slot"`
	}
	if err := json.Unmarshal(raw, &slots); err != nil {
		return nil, fmt.Errorf("unexpected htable.dump result: %v", err)
	}
	var rows []banRow
	for _, s := range slots {
		for _, it := range s.Slot {
			reason := fmt.Sprint(it.Value)
			if _, isNum := it.Value.(float64); isNum {
				reason = "-" // the Kamailio idiom stores 1
			}
			rows = append(rows, banRow{IP: it.Name, Reason: reason, TTL: it.TTL})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].IP < rows[j].IP })
	return rows, nil
}

func printBans(w io.Writer, raw json.RawMessage) error {
	rows, err := parseBans(raw)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no bans")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tREASON\tTIME LEFT")
	for _, r := range rows {
		left := "never expires"
		if r.TTL >= 0 {
			left = (time.Duration(r.TTL) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.IP, r.Reason, left)
	}
	return tw.Flush()
}

// printPikeTop renders pike.top's {list: [{ip_addr, leaf_hits_prev, leaf_hits_curr, expires, status}]}.
func printPikeTop(w io.Writer, raw json.RawMessage) error {
	var top struct {
		MaxHits int `json:"max_hits"`
		List    []struct {
			IP     string `json:"ip_addr"`
			Prev   int64  `json:"leaf_hits_prev"`
			Curr   int64  `json:"leaf_hits_curr"`
			Expire int64  `json:"expires"`
			Status string `json:"status"`
		} `json:"list"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return fmt.Errorf("unexpected pike.top result: %v", err)
	}
	if len(top.List) == 0 {
		fmt.Fprintln(w, "no sources over the threshold")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "IP\tSTATUS\tHITS (PREV)\tHITS (CURR)\tEXPIRES\n")
	for _, e := range top.List {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", e.IP, strings.ToLower(e.Status), e.Prev, e.Curr, e.Expire)
	}
	fmt.Fprintf(tw, "(threshold %d hits per unit)\n", top.MaxHits)
	return tw.Flush()
}
