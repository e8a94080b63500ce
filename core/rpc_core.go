package core

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/luasbc/luasbc/core/msg"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/core/transport"
)

// moreCoreMethods are the core.* commands that describe memory, processes,
// modules and stream connections, and Kamailio's stats aliases.
func moreCoreMethods(c *Core) []rpc.Method {
	return []rpc.Method{
		{Name: "core.ps", Doc: "Workers as Kamailio prints them: PID and description, one after the other (all goroutines of one process).",
			Fn: func(context.Context, rpc.Params) (any, error) {
				var out []any
				for _, p := range c.processes() {
					out = append(out, p.pid, p.dsc)
				}
				return out, nil
			}},
		{Name: "core.shmmem", Doc: "Go runtime memory in Kamailio's field names: total = bytes obtained from the OS (runtime Sys); " +
			"used = live heap objects (HeapAlloc); real_used = total less idle heap spans (Sys - HeapIdle: used plus allocator " +
			"and runtime overhead); free = idle heap spans (HeapIdle, part of it returned to the OS); max_used = peak resident size " +
			"of the process (VmHWM), or real_used where unknown; fragments = live heap objects (Go keeps no free-fragment count).",
			Fn: func(context.Context, rpc.Params) (any, error) { return shmmem(), nil }},
		{Name: "core.modules", Doc: "Modules configured, in start-up order.", Fn: func(context.Context, rpc.Params) (any, error) {
			return c.moduleNames(), nil
		}},
		{Name: "core.tcp_info", Doc: "Stream connections: readers (SIP workers handling stream messages; each connection has its own " +
			"reader goroutine), max_connections and max_tls_connections (limits), opened_connections (TCP and WS), " +
			"opened_tls_connections (TLS and WSS), write_queued_bytes (always 0: writes are not queued).",
			Fn: func(context.Context, rpc.Params) (any, error) {
				lim := c.TP.Limits()
				plain, secure := c.TP.ConnCounts()
				return map[string]any{"readers": c.workers, "max_connections": lim.MaxConnections,
					"max_tls_connections": lim.MaxTLSConnections, "opened_connections": plain,
					"opened_tls_connections": secure, "write_queued_bytes": 0}, nil
			}},
		{Name: "core.tcp_list", Doc: "Open stream connections: id, type (TCP, TLS, WS, WSS), state (accepted: no message yet, " +
			"handshake: TLS not done, established), timeout (seconds left before an idle close), ref_count (always 1), " +
			"src_ip/src_port (remote end), dst_ip/dst_port (local end), outbound, age (seconds).",
			Fn: func(context.Context, rpc.Params) (any, error) {
				lifetime := c.TP.Limits().ConnLifetime
				conns := c.TP.Conns()
				out := make([]map[string]any, 0, len(conns))
				for _, ci := range conns {
					out = append(out, connEntry(ci, lifetime))
				}
				return out, nil
			}},
		{Name: "stats.clear_statistics", Params: "name ...", Doc: "Zero counters (alias of stats.reset_statistics).",
			Fn: resetStats},
	}
}

type process struct {
	pid int
	dsc string
}

// processes are the workers core.ps and core.psx describe.
func (c *Core) processes() []process {
	out := []process{{os.Getpid(), "main process"}}
	for i := 0; i < c.workers; i++ {
		out = append(out, process{os.Getpid(), "sip worker " + strconv.Itoa(i)})
	}
	return out
}

// moduleNames are the configured modules, in the order the engine starts
// them.
func (c *Core) moduleNames() []string {
	if len(c.Cfg.ModuleOrder) > 0 {
		return append([]string{}, c.Cfg.ModuleOrder...)
	}
	out := make([]string, 0, len(c.Cfg.Modules))
	for name := range c.Cfg.Modules {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func shmmem() map[string]any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	realUsed := ms.Sys - ms.HeapIdle
	maxUsed := peakRSS()
	if maxUsed == 0 {
		maxUsed = realUsed
	}
	return map[string]any{"total": ms.Sys, "free": ms.HeapIdle, "used": ms.HeapAlloc, "real_used": realUsed,
		"max_used": maxUsed, "fragments": ms.HeapObjects}
}

// peakRSS is the process's resident high-water mark in bytes (Linux), 0
// where /proc is not there.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// connEntry is one core.tcp_list entry; Kamailio's src is the remote end
// and dst the local one, for accepted and opened connections alike.
func connEntry(ci transport.ConnInfo, lifetime time.Duration) map[string]any {
	state := "established"
	switch {
	case (ci.Proto == msg.TLS || ci.Proto == msg.WSS) && ci.TLS == nil:
		state = "handshake"
	case !ci.Proven:
		state = "accepted"
	}
	return map[string]any{"id": ci.ID, "type": ci.Proto.Upper(), "state": state,
		"timeout": int64(max(0, lifetime-ci.Idle).Seconds()), "ref_count": 1,
		"src_ip": ci.Remote.Addr().String(), "src_port": ci.Remote.Port(),
		"dst_ip": ci.LocalAddr.Addr().String(), "dst_port": ci.LocalAddr.Port(),
		"outbound": ci.Outbound, "age": int64(ci.Age.Seconds())}
}
