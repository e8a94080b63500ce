package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

const subscriberUsage = "subscriber: want add USER[@DOMAIN] PASSWORD, rm USER[@DOMAIN], passwd USER[@DOMAIN] PASSWORD, show [USER[@DOMAIN]]"

func init() {
	verbs["subscriber"] = []string{"add", "rm", "passwd", "show"}
	for _, v := range verbs["subscriber"] {
		verbs[v] = nil
	}
}

// splitUser reads USER@DOMAIN; a bare USER takes the default domain
// (--domain, else $SIP_DOMAIN as kamctl), which may be empty: the server
// then decides (an add needs one unless it stores plain passwords).
func splitUser(s, domain string) (string, string) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i], s[i+1:]
	}
	if domain == "" {
		domain = os.Getenv("SIP_DOMAIN")
	}
	return s, domain
}

// translateSubscriber maps kamctl's add/rm/passwd/show to the auth_db
// subscriber.* RPCs; the server writes the file or table, so sbcctl needs
// no database access.
func translateSubscriber(a []string, o options) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New(subscriberUsage)
	}
	withTable := func(ps []any) []any {
		if o.table != "" {
			ps = append(ps, o.table)
		}
		return ps
	}
	done := func(what string) formatter {
		return func(w io.Writer, raw json.RawMessage) error {
			var r map[string]string
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("unexpected result: %s", raw)
			}
			_, err := fmt.Fprintf(w, "subscriber %s %s\n", r[what], what)
			return err
		}
	}
	switch a[0] {
	case "add", "passwd":
		if len(a) != 3 {
			return "", nil, nil, fmt.Errorf("%s USER[@DOMAIN] PASSWORD", a[0])
		}
		user, domain := splitUser(a[1], o.domain)
		method, what := "subscriber.add", "added"
		if a[0] == "passwd" {
			method, what = "subscriber.passwd", "changed"
		}
		return method, withTable([]any{user, domain, a[2]}), done(what), nil
	case "rm", "del":
		if len(a) != 2 {
			return "", nil, nil, errors.New("rm USER[@DOMAIN]")
		}
		// A bare USER does not take $SIP_DOMAIN here: the server finds the
		// user's one domain, and refuses when there are several.
		user, domain := a[1], o.domain
		if i := strings.LastIndexByte(user, '@'); i >= 0 {
			user, domain = user[:i], user[i+1:]
		}
		return "subscriber.rm", withTable([]any{user, domain}), done("removed"), nil
	case "show", "list":
		if len(a) > 2 {
			return "", nil, nil, errors.New("show [USER[@DOMAIN]]")
		}
		ps := []any{"", ""}
		if len(a) == 2 {
			ps[0] = a[1]
			if i := strings.LastIndexByte(a[1], '@'); i >= 0 {
				ps[0], ps[1] = a[1][:i], a[1][i+1:]
			}
		}
		if o.table == "" && ps[0] == "" {
			ps = nil
		}
		return "subscriber.show", withTable(ps), printSubscribers, nil
	}
	return "", nil, nil, fmt.Errorf("unknown verb %q; %s", a[0], subscriberUsage)
}

func printSubscribers(w io.Writer, raw json.RawMessage) error {
	var rows []struct {
		Username    string            `json:"username"`
		Domain      string            `json:"domain"`
		HasPassword bool              `json:"has_password"`
		HasHA1      bool              `json:"has_ha1"`
		Columns     map[string]string `json:"columns"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return fmt.Errorf("unexpected subscriber.show result: %v", err)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no subscribers")
		return err
	}
	set := map[bool]string{true: "set", false: "-"}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tDOMAIN\tPASSWORD\tHA1\tCOLUMNS")
	for _, r := range rows {
		var cols []string
		for k, v := range r.Columns {
			cols = append(cols, k+"="+v)
		}
		sort.Strings(cols)
		domain := r.Domain
		if domain == "" {
			domain = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Username, domain, set[r.HasPassword], set[r.HasHA1], strings.Join(cols, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d subscribers\n", len(rows))
	return err
}
