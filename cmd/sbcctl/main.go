// Command sbcctl is the operator's tool: JSON-RPC calls to a running sbc
// (like kamcmd) and shortcuts for routine jobs (like kamctl).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/luasbc/luasbc/core/config"
)

const usage = `usage: sbcctl [--url URL | --socket PATH | -c CONFIG] [--json] COMMAND [ARG...]

commands:
  rpc METHOD [ARG...]   call any RPC method (args that look numeric are sent as
                        numbers; prefix s: to force a string, i: a number)
  reload                reload the Lua script (app_lua.reload)
  stats [NAME...]       show statistics (all, group:, or group:name)
  version               server version
  uptime                server uptime
  methods               list RPC methods
  ban list [TABLE]      current bans with reason and time left (htable ipban by default)
  ban rm IP [TABLE]     lift a ban
  pike top [ALL|HOT|WARM]  sources pike is watching or blocking
  completion bash       shell completion: source <(sbcctl completion bash)
  db create|migrate|show   the PostgreSQL tables of every module (Kamailio's schema;
                        --db-url URL, or db_url of -c CONFIG); talks to the database,
                        not to sbc
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbcctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "JSON-RPC URL (default from config rpc.listen, else http://127.0.0.1:8088/rpc)")
	sock := fs.String("socket", "", "JSON-RPC unix socket")
	cfgPath := fs.String("c", "", "sbc config file to take rpc.listen / rpc.socket from")
	asJSON := fs.Bool("json", false, "print raw JSON results")
	timeout := fs.Duration("timeout", 10*time.Second, "call timeout")
	dbURL := fs.String("db-url", "", "PostgreSQL URL for the db verbs (default: db_url of -c CONFIG)")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if rest[0] == "completion" {
		shell := "bash"
		if len(rest) > 1 {
			shell = rest[1]
		}
		if err := completion(stdout, shell); err != nil {
			fmt.Fprintln(stderr, "sbcctl:", err)
			return 2
		}
		return 0
	}
	if rest[0] == "db" {
		if err := runDB(rest[1:], *dbURL, *cfgPath, stdout); err != nil {
			fmt.Fprintln(stderr, "sbcctl:", err)
			return 1
		}
		return 0
	}
	method, params, format, err := translate(rest)
	if err != nil {
		fmt.Fprintln(stderr, "sbcctl:", err)
		fmt.Fprint(stderr, usage)
		return 2
	}
	if *cfgPath != "" && *url == "" && *sock == "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "sbcctl:", err)
			return 1
		}
		if cfg.RPC.Socket != "" {
			*sock = cfg.Path(cfg.RPC.Socket)
		} else if cfg.RPC.Listen != "" {
			*url = "http://" + cfg.RPC.Listen + "/rpc"
		}
	}
	if *url == "" {
		*url = "http://127.0.0.1:8088/rpc"
	}
	res, err := call(*url, *sock, method, params, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "sbcctl:", err)
		return 1
	}
	if format != nil && !*asJSON {
		if err := format(stdout, res); err != nil {
			fmt.Fprintln(stderr, "sbcctl:", err)
			return 1
		}
		return 0
	}
	printResult(stdout, res, *asJSON)
	return 0
}

// formatter renders a command's result for people (--json prints it raw).
type formatter func(w io.Writer, raw json.RawMessage) error

// translate maps a command line to a method, typed parameters and, for
// verbs with a table view, how to print the result.
func translate(a []string) (string, []any, formatter, error) {
	switch a[0] {
	case "rpc":
		if len(a) < 2 {
			return "", nil, nil, errors.New("rpc needs a METHOD")
		}
		return a[1], typed(a[2:]), nil, nil
	case "reload":
		return "app_lua.reload", nil, nil, nil
	case "stats":
		if len(a) == 1 {
			return "stats.get_statistics", []any{"all"}, nil, nil
		}
		return "stats.get_statistics", typed(a[1:]), nil, nil
	case "version":
		return "core.version", nil, nil, nil
	case "uptime":
		return "core.uptime", nil, nil, nil
	case "methods":
		return "system.listMethods", nil, nil, nil
	case "ban":
		return translateBan(a[1:])
	case "dispatcher":
		return translateDispatcher(a[1:])
	case "pike":
		if len(a) < 2 || a[1] != "top" {
			return "", nil, nil, errors.New("pike: want pike top [ALL|HOT|WARM]")
		}
		filter := "HOT"
		if len(a) > 2 {
			filter = strings.ToUpper(a[2])
		}
		return "pike.top", []any{filter}, printPikeTop, nil
	}
	return "", nil, nil, fmt.Errorf("unknown command %q", a[0])
}

func translateBan(a []string) (string, []any, formatter, error) {
	if len(a) == 0 {
		return "", nil, nil, errors.New("ban: want ban list [TABLE] or ban rm IP [TABLE]")
	}
	switch a[0] {
	case "list", "show":
		table := banTable
		if len(a) > 1 {
			table = a[1]
		}
		return "htable.dump", []any{table}, printBans, nil
	case "rm", "del", "lift":
		if len(a) < 2 {
			return "", nil, nil, errors.New("ban rm needs the IP")
		}
		table := banTable
		if len(a) > 2 {
			table = a[2]
		}
		return "htable.delete", []any{table, a[1]}, func(w io.Writer, _ json.RawMessage) error {
			_, err := fmt.Fprintf(w, "ban on %s lifted\n", a[1])
			return err
		}, nil
	}
	return "", nil, nil, fmt.Errorf("ban: unknown verb %q (list, rm)", a[0])
}

// typed follows kamctl: numeric-looking values are numbers unless s: forces a string.
func typed(args []string) []any {
	out := make([]any, 0, len(args))
	for _, s := range args {
		switch {
		case strings.HasPrefix(s, "s:"):
			out = append(out, s[2:])
		case strings.HasPrefix(s, "i:"):
			if n, err := strconv.ParseInt(s[2:], 10, 64); err == nil {
				out = append(out, n)
			} else {
				out = append(out, s[2:])
			}
		default:
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				out = append(out, n)
			} else {
				out = append(out, s)
			}
		}
	}
	return out
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func call(url, sock, method string, params []any, timeout time.Duration) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	client := &http.Client{Timeout: timeout}
	target := url
	if sock != "" {
		client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}
		target = "http://unix/rpc"
	}
	resp, err := client.Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		where := url
		if sock != "" {
			where = sock
		}
		return nil, fmt.Errorf("cannot reach the server at %s (is sbc running?): %v", where, unwrapNet(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server answered HTTP %d", resp.StatusCode)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("bad JSON-RPC response: %v", err)
	}
	if r.Error != nil {
		msg := fmt.Sprintf("%s failed: %d %s", method, r.Error.Code, r.Error.Message)
		if r.Error.Data != nil {
			msg += fmt.Sprintf(" (%v)", r.Error.Data)
		}
		return nil, errors.New(msg)
	}
	return r.Result, nil
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

func printResult(w io.Writer, raw json.RawMessage, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, string(raw))
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		fmt.Fprintln(w, string(raw))
		return
	}
	if s, ok := v.(string); ok {
		fmt.Fprintln(w, s)
		return
	}
	if list, ok := v.([]any); ok && allStrings(list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

func allStrings(list []any) bool {
	for _, e := range list {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}
