package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

const dispatcherUsage = "dispatcher: want show [short|full], add GROUP URI [FLAGS [PRIORITY [ATTRS]]], " +
	"rm GROUP URI, reload, set_state STATE GROUP URI|all, ping_active [0|1]"

func init() {
	verbs["dispatcher"] = []string{"show", "add", "rm", "reload", "set_state", "ping_active"}
}

// translateDispatcher maps the dispatcher verbs to the module's RPC
// methods, as kamcmd dispatcher.*: add and rm change the list in memory
// (the next reload from the list file or table drops them).
func translateDispatcher(a []string) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New(dispatcherUsage)
	}
	switch a[0] {
	case "show", "list", "dump":
		var ps []any
		if len(a) > 1 {
			ps = []any{a[1]}
		}
		return "dispatcher.list", ps, printDispatcherList, nil
	case "add":
		if len(a) < 3 || len(a) > 6 {
			return "", nil, nil, errors.New("dispatcher add GROUP URI [FLAGS [PRIORITY [ATTRS]]]")
		}
		group, err := dispatcherInt("group", a[1])
		if err != nil {
			return "", nil, nil, err
		}
		ps := []any{group, a[2]}
		for i, name := range []string{"flags", "priority"} {
			if len(a) > 3+i {
				n, err := dispatcherInt(name, a[3+i])
				if err != nil {
					return "", nil, nil, err
				}
				ps = append(ps, n)
			}
		}
		if len(a) > 5 {
			ps = append(ps, a[5])
		}
		return "dispatcher.add", ps, nil, nil
	case "rm", "remove", "del":
		if len(a) != 3 {
			return "", nil, nil, errors.New("dispatcher rm GROUP URI")
		}
		group, err := dispatcherInt("group", a[1])
		if err != nil {
			return "", nil, nil, err
		}
		return "dispatcher.remove", []any{group, a[2]}, nil, nil
	case "reload":
		return "dispatcher.reload", nil, nil, nil
	case "set_state", "state":
		if len(a) != 4 {
			return "", nil, nil, errors.New("dispatcher set_state STATE GROUP URI|all (STATE: a, i, t, d, ap, ip, tp)")
		}
		group, err := dispatcherInt("group", a[2])
		if err != nil {
			return "", nil, nil, err
		}
		return "dispatcher.set_state", []any{a[1], group, a[3]}, nil, nil
	case "ping_active":
		if len(a) > 2 {
			return "", nil, nil, errors.New("dispatcher ping_active [0|1]")
		}
		var ps []any
		if len(a) == 2 {
			n, err := dispatcherInt("state", a[1])
			if err != nil {
				return "", nil, nil, err
			}
			ps = []any{n}
		}
		return "dispatcher.ping_active", ps, nil, nil
	}
	return "", nil, nil, fmt.Errorf("dispatcher: unknown verb %q; %s", a[0], dispatcherUsage)
}

// dispatcherInt reads a number argument: decimal, or 0x-hex for flags.
func dispatcherInt(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("dispatcher: %s %q is not a number", name, s)
	}
	return n, nil
}

// dispatcherList is the shape of dispatcher.list.
type dispatcherList struct {
	RECORDS []struct {
		SET struct {
			ID      int
			TARGETS []struct {
				DEST struct {
					URI      string
					FLAGS    string
					PRIORITY int
					ATTRS    *struct{ BODY string }
					LATENCY  *struct {
						AVG, EST float64
						TIMEOUT  int
					}
					RUNTIME *struct{ DLGLOAD int }
				}
			}
		}
	}
}

// printDispatcherList renders dispatcher.list as a table: one line per
// destination with its state, priority, call load, keepalive latency and
// attributes.
func printDispatcherList(w io.Writer, raw json.RawMessage) error {
	var l dispatcherList
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("unexpected dispatcher.list result: %v", err)
	}
	sort.SliceStable(l.RECORDS, func(i, j int) bool { return l.RECORDS[i].SET.ID < l.RECORDS[j].SET.ID })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SET\tURI\tSTATE\tPRIORITY\tCALLS\tLATENCY (AVG/EST ms, TIMEOUTS)\tATTRS")
	n := 0
	for _, r := range l.RECORDS {
		for _, t := range r.SET.TARGETS {
			d := t.DEST
			calls, lat, attrs := "-", "-", ""
			if d.RUNTIME != nil {
				calls = strconv.Itoa(d.RUNTIME.DLGLOAD)
			}
			if d.LATENCY != nil {
				lat = fmt.Sprintf("%.1f/%.1f, %d", d.LATENCY.AVG, d.LATENCY.EST, d.LATENCY.TIMEOUT)
			}
			if d.ATTRS != nil {
				attrs = d.ATTRS.BODY
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", r.SET.ID, d.URI, stateWords(d.FLAGS), d.PRIORITY, calls, lat, attrs)
			n++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d destinations in %d sets\n", n, len(l.RECORDS))
	return err
}

// stateWords spells out dispatcher FLAGS: "AP" -> "AP (active, probing)".
func stateWords(f string) string {
	if len(f) != 2 {
		return f
	}
	first := map[byte]string{'A': "active", 'I': "inactive", 'T': "trying", 'D': "disabled"}[f[0]]
	second := map[byte]string{'P': "probing", 'N': "no ping"}[f[1]]
	words := []string{}
	for _, s := range []string{first, second} {
		if s != "" {
			words = append(words, s)
		}
	}
	return f + " (" + strings.Join(words, ", ") + ")"
}
