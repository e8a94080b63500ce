package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

const ulUsage = "ul: want show [AOR], rm AOR [CONTACT], add AOR CONTACT [EXPIRES]"

// locationTable is usrloc's default table (kamctl's USRLOC_TABLE).
const locationTable = "location"

// allMethods is the methods bitmask of a contact added by hand: every method.
const allMethods = "4294967295"

func init() {
	verbs["ul"] = []string{"show", "rm", "add"}
}

// translateUL maps kamctl's ul verbs to the usrloc RPCs (ul.dump, ul.lookup,
// ul.rm, ul.rm_contact, ul.add) on --table, default location.
func translateUL(a []string, o options) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New(ulUsage)
	}
	table := o.table
	if table == "" {
		table = locationTable
	}
	switch a[0] {
	case "show", "list", "dump":
		switch len(a) {
		case 1:
			return "ul.dump", nil, printULDump, nil
		case 2:
			return "ul.lookup", []any{table, a[1]}, printULLookup(table), nil
		}
		return "", nil, nil, errors.New("ul show [AOR]")
	case "rm", "del":
		switch len(a) {
		case 2:
			return "ul.rm", []any{table, a[1]}, said("AoR " + a[1] + " removed"), nil
		case 3:
			return "ul.rm_contact", []any{table, a[1], a[2]}, said("contact " + a[2] + " of " + a[1] + " removed"), nil
		}
		return "", nil, nil, errors.New("ul rm AOR [CONTACT]")
	case "add":
		if len(a) < 3 || len(a) > 4 {
			return "", nil, nil, errors.New("ul add AOR CONTACT [EXPIRES] (seconds; 0, the default, never expires)")
		}
		expires := int64(0)
		if len(a) == 4 {
			n, err := strconv.ParseInt(a[3], 10, 32)
			if err != nil || n < 0 {
				return "", nil, nil, fmt.Errorf("ul: expires %q is not a number of seconds", a[3])
			}
			expires = n
		}
		// As kamctl ul add: q 1, no path, no flags, every method.
		return "ul.add", []any{table, a[1], a[2], expires, "1", ".", 0, 0, allMethods},
			said("contact " + a[2] + " added to " + a[1]), nil
	}
	return "", nil, nil, fmt.Errorf("unknown verb %q; %s", a[0], ulUsage)
}

// ulContact is the part of a usrloc contact the tables show.
type ulContact struct {
	Contact struct {
		Address   string  `json:"Address"`
		Expires   any     `json:"Expires"`
		Q         float64 `json:"Q"`
		Received  string  `json:"Received"`
		UserAgent string  `json:"User-Agent"`
	} `json:"Contact"`
}

func ulRows(tw io.Writer, domain, aor string, cs []ulContact) {
	for _, c := range cs {
		x := c.Contact
		exp := fmt.Sprint(x.Expires)
		if f, ok := x.Expires.(float64); ok {
			exp = strconv.FormatFloat(f, 'f', -1, 64) + "s"
		}
		q := "-"
		if x.Q >= 0 {
			q = strconv.FormatFloat(x.Q, 'f', -1, 64)
		}
		received := x.Received
		if received == "[not set]" {
			received = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", domain, aor, x.Address, exp, q, received, x.UserAgent)
	}
}

const ulHeader = "TABLE\tAOR\tCONTACT\tEXPIRES\tQ\tRECEIVED\tUSER-AGENT"

func printULDump(w io.Writer, raw json.RawMessage) error {
	var d struct {
		Domains []struct {
			Domain struct {
				Domain string `json:"Domain"`
				AoRs   []struct {
					Info struct {
						AoR      string      `json:"AoR"`
						Contacts []ulContact `json:"Contacts"`
					} `json:"Info"`
				} `json:"AoRs"`
			} `json:"Domain"`
		} `json:"Domains"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("unexpected ul.dump result: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, ulHeader)
	aors, contacts := 0, 0
	for _, dom := range d.Domains {
		for _, a := range dom.Domain.AoRs {
			ulRows(tw, dom.Domain.Domain, a.Info.AoR, a.Info.Contacts)
			aors++
			contacts += len(a.Info.Contacts)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d contacts of %d AoRs\n", contacts, aors)
	return err
}

func printULLookup(table string) formatter {
	return func(w io.Writer, raw json.RawMessage) error {
		var l struct {
			AoR      string      `json:"AoR"`
			Contacts []ulContact `json:"Contacts"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("unexpected ul.lookup result: %v", err)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, ulHeader)
		ulRows(tw, table, l.AoR, l.Contacts)
		return tw.Flush()
	}
}
