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

// maxResponse bounds what sbcctl reads of one RPC response.
const maxResponse = 64 << 20

const usage = `usage: sbcctl [OPTIONS] COMMAND [ARG...]   (options may also follow the command)

options:
  --url URL | --socket PATH | -c CONFIG   where the server's RPC listens
  --json              print the raw JSON result (for scripts)
  --domain D          domain of a USER given without @DOMAIN (default $SIP_DOMAIN)
  --table T           subscriber table (add/rm/passwd/show) or location table (ul)
  --int               htable set: store an integer
  --timeout D, --db-url URL

commands:
  rpc METHOD [ARG...]   call any RPC method (args that look numeric are sent as
                        numbers; prefix s: to force a string, i: a number)
  reload                reload the Lua script (app_lua.reload)
  stats [GROUP|group:name...]   statistics as a table, sorted
  version | uptime | methods    server version, uptime, RPC methods
  add USER[@DOMAIN] PASSWORD    add a subscriber; the server stores password,
                        ha1 and ha1b in its subscriber file or table
  passwd USER[@DOMAIN] PASSWORD change a subscriber's password
  rm USER[@DOMAIN]      delete a subscriber
  show [USER[@DOMAIN]]  list subscribers (also: subscriber add|rm|passwd|show)
  address add GRP IP[/MASK] [PORT] [TAG] | rm GRP IP[/MASK] | show | reload
  trusted add SRC_IP PROTO PATTERN [TAG] | rm SRC_IP | show | reload
                        the permissions tables; add and rm write the server's
                        file or table and reload it (PATTERN - for any From)
  ul show [AOR] | rm AOR [CONTACT] | add AOR CONTACT [EXPIRES]
                        registered contacts (location table, --table)
  htable list | dump TABLE | get TABLE KEY | set TABLE KEY VALUE | rm TABLE KEY
  dispatcher show | add GROUP URI [FLAGS [PRIORITY [ATTRS]]] | rm GROUP URI |
             reload | set_state STATE GROUP URI|all | ping_active [0|1]
  ban list [TABLE]      current bans with reason and time left (htable ipban by default)
  ban rm IP [TABLE]     lift a ban
  pike top [ALL|HOT|WARM]  sources pike is watching or blocking
  completion bash       shell completion: source <(sbcctl completion bash)
  db create|migrate|show   the PostgreSQL tables of every module (Kamailio's schema;
                        --db-url URL, or db_url of -c CONFIG); talks to the database,
                        not to sbc

exit status: 0 done, 1 the server is unreachable or the call failed, 2 bad usage
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
	var o options
	fs.StringVar(&o.domain, "domain", "", "domain of a USER given without @DOMAIN (default $SIP_DOMAIN)")
	fs.BoolVar(&o.asInt, "int", false, "htable set: store the value as an integer (htable.seti)")
	fs.StringVar(&o.table, "table", "", "subscriber table (add/rm/passwd/show with a database) or location table (ul; default location)")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(hoistFlags(fs, args)); err != nil {
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
	method, params, format, err := translate(rest, o)
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

// hoistFlags moves options written after the command (sbcctl ul show
// --json) in front of it, where the flag package reads them. Only exact
// option names move, so arguments such as -1 stay; "--" ends the options.
func hoistFlags(fs *flag.FlagSet, args []string) []string {
	var opts, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || f == nil {
			rest = append(rest, a)
			continue
		}
		opts = append(opts, a)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) && i+1 < len(args) {
			i++
			opts = append(opts, args[i])
		}
	}
	return append(opts, rest...)
}

// options are the flags that verbs read.
type options struct {
	domain string // default domain of subscriber verbs
	table  string // subscriber or location table
	asInt  bool   // htable set stores an integer
}

// formatter renders a command's result for people (--json prints it raw).
type formatter func(w io.Writer, raw json.RawMessage) error

// translate maps a command line to a method, typed parameters and, for
// verbs with a table view, how to print the result.
func translate(a []string, o options) (string, []any, formatter, error) {
	switch a[0] {
	case "rpc":
		if len(a) < 2 {
			return "", nil, nil, errors.New("rpc needs a METHOD")
		}
		return a[1], typed(a[2:]), nil, nil
	case "reload":
		return "app_lua.reload", nil, nil, nil
	case "stats":
		return translateStats(a[1:])
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
	case "address":
		return translateAddress(a[1:])
	case "trusted":
		return translateTrusted(a[1:])
	case "subscriber":
		return translateSubscriber(a[1:], o)
	case "ul":
		return translateUL(a[1:], o)
	case "htable":
		return translateHtable(a[1:], o)
	case "add", "rm", "passwd", "show":
		return translateSubscriber(a, o)
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
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxResponse {
		return nil, fmt.Errorf("%s: the response is larger than %d MiB; ask for less (e.g. a limit parameter)", method, maxResponse>>20)
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
