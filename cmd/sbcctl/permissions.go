package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

const (
	addressUsage = "address: want add GRP IP[/MASK] [PORT] [TAG], rm GRP IP[/MASK], show, reload"
	trustedUsage = "trusted: want add SRC_IP PROTO PATTERN [TAG] (PATTERN - for any From), rm SRC_IP, show, reload"
)

func init() {
	verbs["address"] = []string{"add", "rm", "show", "reload"}
	verbs["trusted"] = []string{"add", "rm", "show", "reload"}
}

// said prints a fixed line once the call succeeded.
func said(line string) formatter {
	return func(w io.Writer, _ json.RawMessage) error {
		_, err := fmt.Fprintln(w, line)
		return err
	}
}

// printRemoved reports {removed: n}.
func printRemoved(what string) formatter {
	return func(w io.Writer, raw json.RawMessage) error {
		var r struct{ Removed int }
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("unexpected result: %s", raw)
		}
		_, err := fmt.Fprintf(w, "%d %s records removed\n", r.Removed, what)
		return err
	}
}

// translateAddress maps the address verbs to the permissions RPCs: edits
// go to the server's address file or table and are loaded at once.
func translateAddress(a []string) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New(addressUsage)
	}
	switch a[0] {
	case "add":
		if len(a) < 3 || len(a) > 5 {
			return "", nil, nil, errors.New("address add GRP IP[/MASK] [PORT] [TAG]")
		}
		grp, err := argInt("address", "group", a[1])
		if err != nil {
			return "", nil, nil, err
		}
		ps := []any{grp, a[2]}
		if len(a) > 3 {
			port, err := argInt("address", "port", a[3])
			if err != nil {
				return "", nil, nil, err
			}
			ps = append(ps, port)
		}
		if len(a) > 4 {
			ps = append(ps, a[4])
		}
		return "permissions.addressAdd", ps, said("address " + a[2] + " added to group " + a[1]), nil
	case "rm", "del":
		if len(a) != 3 {
			return "", nil, nil, errors.New("address rm GRP IP[/MASK]")
		}
		grp, err := argInt("address", "group", a[1])
		if err != nil {
			return "", nil, nil, err
		}
		return "permissions.addressRm", []any{grp, a[2]}, printRemoved("address"), nil
	case "show", "list", "dump":
		if len(a) != 1 {
			return "", nil, nil, errors.New("address show takes no arguments")
		}
		return "permissions.addressShow", nil, printAddresses, nil
	case "reload":
		return "permissions.addressReload", nil, nil, nil
	}
	return "", nil, nil, fmt.Errorf("unknown verb %q; %s", a[0], addressUsage)
}

func translateTrusted(a []string) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New(trustedUsage)
	}
	switch a[0] {
	case "add":
		if len(a) < 4 || len(a) > 5 {
			return "", nil, nil, errors.New("trusted add SRC_IP PROTO PATTERN [TAG]")
		}
		pattern := a[3]
		if pattern == "-" {
			pattern = ""
		}
		ps := []any{a[1], a[2], pattern}
		if len(a) > 4 {
			ps = append(ps, a[4])
		}
		return "permissions.trustedAdd", ps, said("trusted " + a[1] + " added"), nil
	case "rm", "del":
		if len(a) != 2 {
			return "", nil, nil, errors.New("trusted rm SRC_IP")
		}
		return "permissions.trustedRm", []any{a[1]}, printRemoved("trusted"), nil
	case "show", "list", "dump":
		if len(a) != 1 {
			return "", nil, nil, errors.New("trusted show takes no arguments")
		}
		return "permissions.trustedDump", nil, printTrusted, nil
	case "reload":
		return "permissions.trustedReload", nil, nil, nil
	}
	return "", nil, nil, fmt.Errorf("unknown verb %q; %s", a[0], trustedUsage)
}

// argInt reads a decimal number argument of a verb.
func argInt(verb, name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s %q is not a number", verb, name, s)
	}
	return n, nil
}

func printAddresses(w io.Writer, raw json.RawMessage) error {
	var rows []struct {
		Group int    `json:"group"`
		IP    string `json:"ip"`
		Mask  int    `json:"mask"`
		Port  int    `json:"port"`
		Tag   string `json:"tag"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return fmt.Errorf("unexpected permissions.addressShow result: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tADDRESS\tPORT\tTAG")
	for _, r := range rows {
		addr := r.IP
		if r.Mask > 0 {
			addr += "/" + strconv.Itoa(r.Mask)
		}
		port := "any"
		if r.Port != 0 {
			port = strconv.Itoa(r.Port)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Group, addr, port, nullDash(r.Tag))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d address records\n", len(rows))
	return err
}

// protoNames are Kamailio's protocol numbers, as permissions.trustedDump gives them.
var protoNames = []string{"any", "udp", "tcp", "tls", "sctp", "ws", "wss"}

func printTrusted(w io.Writer, raw json.RawMessage) error {
	var rows []struct {
		Item struct {
			IP       string `json:"ip"`
			Proto    int    `json:"proto"`
			Pattern  string `json:"pattern"`
			RURI     string `json:"ruri_pattern"`
			Tag      string `json:"tag"`
			Priority int    `json:"priority"`
		} `json:"item"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return fmt.Errorf("unexpected permissions.trustedDump result: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tPROTO\tFROM PATTERN\tR-URI PATTERN\tTAG\tPRIORITY")
	for _, r := range rows {
		it := r.Item
		proto := strconv.Itoa(it.Proto)
		if it.Proto >= 0 && it.Proto < len(protoNames) {
			proto = protoNames[it.Proto]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", it.IP, proto, nullDash(it.Pattern), nullDash(it.RURI), nullDash(it.Tag), it.Priority)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d trusted records\n", len(rows))
	return err
}

// nullDash shows Kamailio's "NULL" (no value) as "-".
func nullDash(s string) string {
	if s == "NULL" || s == "" {
		return "-"
	}
	return s
}
