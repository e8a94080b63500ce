package core

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/stats"
)

// RPCMethods are the core.*, stats.*, tls.*, dns.* and dst_blocklist.* commands.
func RPCMethods(c *Core) []rpc.Method {
	ms := []rpc.Method{
		{Name: "core.version", Doc: "Server name and version.", Fn: func(context.Context, rpc.Params) (any, error) {
			return fmt.Sprintf("luasbc %s (%s/%s)", Version, runtime.GOARCH, runtime.GOOS), nil
		}},
		{Name: "core.uptime", Doc: "Start time and uptime in seconds.", Fn: func(context.Context, rpc.Params) (any, error) {
			now := time.Now()
			return map[string]any{"now": now.Format(time.ANSIC), "up_since": c.Start.Format(time.ANSIC),
				"uptime": int64(now.Sub(c.Start).Seconds())}, nil
		}},
		{Name: "core.psx", Doc: "Workers and what they do (goroutines of one process).", Fn: func(context.Context, rpc.Params) (any, error) {
			var out []map[string]any
			for i, p := range c.processes() {
				out = append(out, map[string]any{"IDX": i, "PID": p.pid, "DSC": p.dsc})
			}
			return out, nil
		}},
		{Name: "core.info", Doc: "Workers, queue, connections, sockets.", Fn: func(context.Context, rpc.Params) (any, error) {
			socks := make([]string, 0, len(c.TP.Sockets))
			for _, s := range c.TP.Sockets {
				socks = append(socks, s.Name)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return map[string]any{"version": Version, "workers": c.workers, "busy_workers": c.busy.Load(),
				"queue_length": len(c.queue), "queue_size": cap(c.queue), "tcp_connections": c.TP.ConnCount(),
				"sockets": socks, "goroutines": runtime.NumGoroutine(), "heap_bytes": ms.HeapAlloc}, nil
		}},
		{Name: "core.sockets_list", Doc: "Listening sockets.", Fn: func(context.Context, rpc.Params) (any, error) {
			out := make([]map[string]any, 0, len(c.TP.Sockets))
			for _, s := range c.TP.Sockets {
				out = append(out, map[string]any{"proto": s.Proto.String(), "address": s.Addr.Addr().String(), "port": s.Addr.Port()})
			}
			return out, nil
		}},
		{Name: "stats.get_statistics", Params: "all | group: | name ...", Doc: "Counters as \"group:name = value\" lines.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) {
				out := []string{}
				for _, e := range stats.Select(p.Strs()) {
					out = append(out, e.Group+":"+e.Name+" = "+strconv.FormatInt(e.Value, 10))
				}
				return out, nil
			}},
		{Name: "stats.fetch", Params: "all | group: | name ...", Doc: "Counters as an object of strings.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) {
				out := map[string]string{}
				for _, e := range stats.Select(p.Strs()) {
					out[e.Group+"."+e.Name] = strconv.FormatInt(e.Value, 10)
				}
				return out, nil
			}},
		{Name: "stats.fetchn", Params: "all | group: | name ...", Doc: "Counters as an object of numbers.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) {
				out := map[string]int64{}
				for _, e := range stats.Select(p.Strs()) {
					out[e.Group+"."+e.Name] = e.Value
				}
				return out, nil
			}},
		{Name: "stats.reset_statistics", Params: "name ...", Doc: "Zero counters.",
			Fn: resetStats},
	}
	ms = append(ms, moreCoreMethods(c)...)
	ms = append(ms, tlsMethods(c)...)
	return append(ms, dnsMethods(c)...)
}

func resetStats(_ context.Context, p rpc.Params) (any, error) {
	stats.Reset(p.Strs())
	return nil, nil
}
