package rtpengine

import (
	"context"
	"strings"
	"time"

	"github.com/luasbc/luasbc/core/rpc"
)

// reloadEvery is Kamailio's limit on rtpengine.reload calls.
const reloadEvery = 10 * time.Second

// nodeInfo is one instance in rtpengine.show / enable / ping.
type nodeInfo struct {
	URL          string `json:"url"`
	Set          int    `json:"set"`
	Index        int    `json:"index"`
	Weight       int64  `json:"weight"`
	Disabled     int    `json:"disabled"`
	Permanent    bool   `json:"disabled_permanent"`
	RecheckTicks any    `json:"recheck_ticks"`
}

func (m *Module) info(n *node) nodeInfo {
	d, perm, left := n.state()
	m.pool.mu.RLock()
	idx := n.idx
	m.pool.mu.RUnlock()
	in := nodeInfo{URL: n.def.URL, Set: n.def.Set, Index: idx, Weight: n.weight.Load(), Permanent: perm, RecheckTicks: left}
	if d {
		in.Disabled = 1
	}
	if perm {
		in.RecheckTicks = "N/A"
	}
	return in
}

// rpcNodes resolves the proxy_url/all parameter ("::udp6:..." escapes an
// IPv6 URL for kamcmd).
func (m *Module) rpcNodes(p rpc.Params) ([]*node, error) {
	url, ok := p.Str(0)
	if !ok || url == "" {
		return nil, rpc.Errorf(500, "missing proxy url (or all)")
	}
	url = strings.TrimPrefix(url, "::")
	ns := m.pool.byURL(url)
	if len(ns) == 0 {
		return nil, rpc.Errorf(500, "RTP proxy not found: %s", url)
	}
	return ns, nil
}

// RPC implements kemi.RPCProvider with Kamailio's rtpengine.* commands.
func (m *Module) RPC() []rpc.Method {
	return []rpc.Method{
		{Name: "rtpengine.show", Params: "proxy_url|all", Doc: "Instances with set, weight and state.",
			Fn: func(_ context.Context, p rpc.Params) (any, error) {
				ns, err := m.rpcNodes(p)
				if err != nil {
					return nil, err
				}
				out := make([]nodeInfo, 0, len(ns))
				for _, n := range ns {
					out = append(out, m.info(n))
				}
				return out, nil
			}},
		{Name: "rtpengine.enable", Params: "proxy_url|all 0|1", Doc: "1: enable after a successful ping (else disabled until rtpengine_disable_tout); 0: disable permanently.",
			Fn: func(ctx context.Context, p rpc.Params) (any, error) {
				ns, err := m.rpcNodes(p)
				if err != nil {
					return nil, err
				}
				v, ok := p.Int(1)
				if !ok {
					return nil, rpc.Errorf(500, "second parameter must be 0 or 1")
				}
				failed := 0
				for _, n := range ns {
					if v <= 0 {
						n.disablePermanent()
						continue
					}
					if err := m.pingNode(ctx, n); err != nil {
						// Kamailio: a permanently disabled node becomes
						// temporarily disabled when its ping fails.
						n.enable()
						n.disable(m.pool.disableTout)
						failed++
						continue
					}
					n.enable()
				}
				if failed > 0 {
					return nil, rpc.Errorf(500, "Fail enable proxy (%d of %d did not answer)", failed, len(ns))
				}
				out := make([]nodeInfo, 0, len(ns))
				for _, n := range ns {
					out = append(out, m.info(n))
				}
				return out, nil
			}},
		{Name: "rtpengine.ping", Params: "proxy_url|all", Doc: "Ping instances; one that does not answer is disabled (not permanently).",
			Fn: func(ctx context.Context, p rpc.Params) (any, error) {
				ns, err := m.rpcNodes(p)
				if err != nil {
					return nil, err
				}
				type res struct {
					URL  string `json:"url"`
					Set  int    `json:"set"`
					Ping string `json:"ping"`
				}
				out := make([]res, 0, len(ns))
				for _, n := range ns {
					r := res{URL: n.def.URL, Set: n.def.Set, Ping: "success"}
					if err := m.pingNode(ctx, n); err != nil {
						if _, perm, _ := n.state(); !perm {
							n.disable(m.pool.disableTout)
						}
						r.Ping = "fail"
					}
					out = append(out, r)
				}
				return out, nil
			}},
		{Name: "rtpengine.reload", Doc: "Reload the instances from the database (database mode), at most once every 10 s.",
			Fn: func(ctx context.Context, _ rpc.Params) (any, error) {
				if m.cfg.dbURL == "" {
					return nil, rpc.Errorf(500, "No db_url configured: instances come from rtpengine_sock")
				}
				m.reloadMu.Lock()
				defer m.reloadMu.Unlock()
				if since := time.Since(m.lastReload); since < reloadEvery {
					return nil, rpc.Errorf(500, "Reload too soon: again in %v", (reloadEvery - since).Round(time.Second))
				}
				m.lastReload = time.Now()
				if err := m.reload(ctx); err != nil {
					return nil, rpc.Errorf(500, "Reload failed: %v", err)
				}
				return "Ok. Reload successful.", nil
			}},
		{Name: "rtpengine.get_hash_total", Doc: "Calls bound to an instance (the call-id table).",
			Fn: func(context.Context, rpc.Params) (any, error) { return m.pool.stickyCount(), nil }},
	}
}

// pingNode pings with the module's retries, bounded.
func (m *Module) pingNode(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(m.tcfg.retr, 1))*m.tcfg.tout+time.Second)
	defer cancel()
	return n.ping(ctx, m.tcfg.retr)
}
