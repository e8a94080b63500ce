package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// translateStats asks stats.get_statistics (kamcmd's output for --json);
// a bare GROUP means all its counters ("core" is "core:"), as kamctl stats.
func translateStats(a []string) (string, []any, formatter, error) {
	ps := []any{"all"}
	if len(a) > 0 {
		ps = ps[:0]
		for _, s := range a {
			if s != "all" && !strings.Contains(s, ":") {
				s += ":"
			}
			ps = append(ps, s)
		}
	}
	return "stats.get_statistics", ps, printStats, nil
}

// printStats turns "group:name = value" lines into a table sorted by group
// and name.
func printStats(w io.Writer, raw json.RawMessage) error {
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return fmt.Errorf("unexpected stats.get_statistics result: %v", err)
	}
	type row struct{ group, name, value string }
	rows := make([]row, 0, len(lines))
	for _, l := range lines {
		key, value, _ := strings.Cut(l, " = ")
		group, name, ok := strings.Cut(key, ":")
		if !ok {
			group, name = "-", key
		}
		rows = append(rows, row{group, name, value})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].group != rows[j].group {
			return rows[i].group < rows[j].group
		}
		return rows[i].name < rows[j].name
	})
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no such statistics")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tNAME\tVALUE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.group, r.name, r.value)
	}
	return tw.Flush()
}
