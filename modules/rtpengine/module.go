// Package rtpengine anchors media in Sipwise rtpengine instances, as
// Kamailio's rtpengine module: the ng control protocol (bencode over UDP,
// with cookies, retries and timeouts), sets of weighted instances with
// failover, and the KSR.rtpengine.* functions that rewrite the SDP of the
// message with rtpengine's.
package rtpengine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name:   "rtpengine",
		Doc:    "Media anchoring with Sipwise rtpengine over the ng control protocol: offer/answer/delete, recording, media control, weighted sets with failover.",
		Params: params(),
		New:    newModule,
		Tables: []kemi.Table{{Name: "rtpengine", Version: 1, SQL: tableSQL}},
	})
}

// tableSQL is Kamailio's rtpengine node table (version 1).
const tableSQL = `CREATE TABLE rtpengine (
    id SERIAL PRIMARY KEY NOT NULL,
    setid INTEGER DEFAULT 0 NOT NULL,
    url VARCHAR(64) NOT NULL,
    weight INTEGER DEFAULT 1 NOT NULL,
    disabled INTEGER DEFAULT 0 NOT NULL,
    stamp TIMESTAMP WITHOUT TIME ZONE DEFAULT '1900-01-01 00:00:01' NOT NULL,
    CONSTRAINT rtpengine_rtpengine_nodes UNIQUE (setid, url)
);`

func params() []kemi.ParamDef {
	ps := []kemi.ParamDef{
		{Name: "rtpengine_sock", Default: "", Doc: "Instances: \"[SETID ==] udp:HOST:PORT[=WEIGHT] ...\"; may be given as a list, one entry per set."},
		{Name: "rtpengine_disable_tout", Default: 60, Doc: "Seconds an instance that did not answer stays disabled before it is tested again."},
		{Name: "aggressive_redetection", Default: 1, Doc: "1: when every instance of a set is disabled, ping them all at once instead of failing."},
		{Name: "rtpengine_tout_ms", Default: 1000, Doc: "Milliseconds to wait for a reply to one send."},
		{Name: "rtpengine_allow_op", Default: 0, Doc: "1: commands for calls already on a disabled instance still go to it; 2: only to instances disabled by rtpengine.enable."},
		{Name: "queried_nodes_limit", Default: 0, Doc: "Instances of a set tried for one command before giving up (0: all, at most 30)."},
		{Name: "rtpengine_retr", Default: 5, Doc: "Sends of one command to one instance before it counts as not answering."},
		{Name: "extra_id_pv", Default: "", Doc: "PV read by via-branch=extra."},
		{Name: "setid_avp", Default: "", Doc: "AVP holding the set to use (overrides set_rtpengine_set and setid_default)."},
		{Name: "force_send_interface", Default: "", Doc: "Local IP address the control commands are sent from."},
		{Name: "read_sdp_pv", Default: "", Doc: "PV to take the SDP from instead of the message body."},
		{Name: "write_sdp_pv", Default: "", Doc: "PV to store rtpengine's SDP in instead of replacing the message body."},
		{Name: "rtp_inst_pvar", Default: "", Doc: "PV set to the URL of the instance a command went to."},
		{Name: "hash_table_size", Default: 256, Doc: "Buckets of the call-id table (it grows as needed here).", Ignored: true},
		{Name: "hash_table_tout", Default: 3600, Doc: "Seconds a call stays bound to the instance that took its offer."},
		{Name: "db_url", Default: "", Doc: "PostgreSQL URL: read the instances from the rtpengine table instead of rtpengine_sock (the global db_url is not used)."},
		{Name: "table_name", Default: "rtpengine", Doc: "Table of instances in database mode."},
		{Name: "setid_col", Default: "setid", Doc: "Column of the set id."},
		{Name: "url_col", Default: "url", Doc: "Column of the URL."},
		{Name: "weight_col", Default: "weight", Doc: "Column of the weight."},
		{Name: "disabled_col", Default: "disabled", Doc: "Column of the disabled state (non-zero: disabled permanently)."},
		{Name: "setid_default", Default: 0, Doc: "Set used when the script selects none."},
		{Name: "media_duration", Default: "", Doc: "PV set to the duration in milliseconds of what play_media plays (-1 unknown)."},
		{Name: "control_cmd_tos", Default: -1, Doc: "IP TOS of the control packets (0-255)."},
		{Name: "hash_algo", Default: 0, Doc: "Call-id hash for choosing an instance: 0 simple, 1 SHA-1, 2 CRC32."},
		{Name: "wsapi", Default: "", Doc: "Websocket control is not supported: only udp: instances.", Ignored: true},
	}
	mosDoc := "MOS statistics PV: not filled in luasbc (use rtpengine_query_v for the call's statistics)."
	for _, n := range []string{"mos_min_pv", "mos_min_at_pv", "mos_min_packetloss_pv", "mos_min_jitter_pv", "mos_min_roundtrip_pv",
		"mos_max_pv", "mos_max_at_pv", "mos_max_packetloss_pv", "mos_max_jitter_pv", "mos_max_roundtrip_pv",
		"mos_average_pv", "mos_average_packetloss_pv", "mos_average_jitter_pv", "mos_average_roundtrip_pv", "mos_average_samples_pv"} {
		ps = append(ps, kemi.ParamDef{Name: n, Default: "", Doc: mosDoc, Ignored: true})
	}
	for _, leg := range []string{"A", "B"} {
		ps = append(ps, kemi.ParamDef{Name: "mos_" + leg + "_label_pv", Default: "", Doc: mosDoc, Ignored: true})
		for _, n := range []string{"min", "min_at", "min_packetloss", "min_jitter", "min_roundtrip", "min_roundtrip_leg",
			"max", "max_at", "max_packetloss", "max_jitter", "max_roundtrip", "max_roundtrip_leg",
			"average", "average_packetloss", "average_jitter", "average_roundtrip", "average_roundtrip_leg", "average_samples"} {
			ps = append(ps, kemi.ParamDef{Name: "mos_" + n + "_" + leg + "_pv", Default: "", Doc: mosDoc, Ignored: true})
		}
	}
	return ps
}

// Module is the configured rtpengine module.
type Module struct {
	env  *kemi.Env
	log  *zap.Logger
	pool *pool
	tcfg *transportCfg
	cfg  modCfg

	reloadMu   sync.Mutex
	lastReload time.Time
	stop       chan struct{}
	wg         sync.WaitGroup

	st struct {
		ok, failed, badRx *stats.Counter
	}
}

// modCfg holds the PV names and options the functions use.
type modCfg struct {
	extraIDPV, setidAVP, readSDPPV, writeSDPPV, instPV, durationPV string
	setDefault                                                     int
	dbURL, table, setCol, urlCol, weightCol, disabledCol           string
}

func newModule(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	m := &Module{env: env, log: env.Log, stop: make(chan struct{})}
	m.st.ok = stats.New("rtpengine", "commands_ok", "ng commands answered ok")
	m.st.failed = stats.New("rtpengine", "commands_failed", "ng commands that failed (no instance, error result, timeout)")
	m.st.badRx = stats.New("rtpengine", "malformed_replies", "replies from rtpengine that were not cookie + bencoded dictionary")
	m.tcfg = &transportCfg{tout: time.Duration(p.Int("rtpengine_tout_ms")) * time.Millisecond, retr: p.Int("rtpengine_retr"),
		laddr: p.Str("force_send_interface"), tos: p.Int("control_cmd_tos"), log: env.Log, onBadRx: m.st.badRx.Inc}
	if m.tcfg.tout <= 0 {
		return nil, fmt.Errorf("rtpengine_tout_ms must be positive")
	}
	if m.tcfg.retr < 1 {
		return nil, fmt.Errorf("rtpengine_retr must be at least 1")
	}
	if a := p.Int("hash_algo"); a < 0 || a > 2 {
		return nil, fmt.Errorf("hash_algo %d: want 0, 1 or 2", a)
	}
	if q := p.Int("queried_nodes_limit"); q < 0 || q > maxQueried {
		return nil, fmt.Errorf("queried_nodes_limit %d: want 0 to %d", q, maxQueried)
	}
	if t := p.Int("rtpengine_disable_tout"); t < 0 {
		return nil, fmt.Errorf("rtpengine_disable_tout must not be negative")
	}
	m.cfg = modCfg{extraIDPV: p.Str("extra_id_pv"), setidAVP: p.Str("setid_avp"), readSDPPV: p.Str("read_sdp_pv"),
		writeSDPPV: p.Str("write_sdp_pv"), instPV: p.Str("rtp_inst_pvar"), durationPV: p.Str("media_duration"),
		setDefault: p.Int("setid_default"), dbURL: p.Str("db_url"), table: p.Str("table_name"), setCol: p.Str("setid_col"),
		urlCol: p.Str("url_col"), weightCol: p.Str("weight_col"), disabledCol: p.Str("disabled_col")}
	m.pool = &pool{sets: map[int][]*node{}, disableTout: time.Duration(p.Int("rtpengine_disable_tout")) * time.Second,
		aggressive: p.Bool("aggressive_redetection"), queriedLimit: p.Int("queried_nodes_limit"), allowOp: p.Int("rtpengine_allow_op"),
		hashAlgo: p.Int("hash_algo"), stickyTout: time.Duration(p.Int("hash_table_tout")) * time.Second, log: env.Log,
		sticky: map[string]stickyEntry{}}
	if env.Engine != nil {
		for _, pv := range []struct{ name, v string }{{"extra_id_pv", m.cfg.extraIDPV}, {"setid_avp", m.cfg.setidAVP},
			{"read_sdp_pv", m.cfg.readSDPPV}, {"write_sdp_pv", m.cfg.writeSDPPV}, {"rtp_inst_pvar", m.cfg.instPV},
			{"media_duration", m.cfg.durationPV}} {
			if pv.v == "" {
				continue
			}
			if _, err := env.Engine.ParsePV(pv.v); err != nil {
				return nil, fmt.Errorf("%s: %v", pv.name, err)
			}
		}
	}
	if m.cfg.dbURL != "" {
		if len(p.Strs("rtpengine_sock")) > 0 && p.Str("rtpengine_sock") != "" {
			return nil, fmt.Errorf("rtpengine_sock and db_url both set: database mode reads the instances from table %s", m.cfg.table)
		}
		return m, nil
	}
	var defs []nodeDef
	for _, s := range p.Strs("rtpengine_sock") {
		if s == "" || s == "NONE" {
			continue
		}
		d, err := parseSock(s)
		if err != nil {
			return nil, err
		}
		defs = append(defs, d...)
	}
	if len(defs) == 0 && env.Core == nil {
		return m, nil // only the API is being listed (docs, stubs)
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("rtpengine_sock is not set: name at least one instance (\"udp:127.0.0.1:22222\") or set db_url")
	}
	m.install(defs)
	if env.Core != nil && env.Core.Cfg != nil {
		m.checkDeadline(env.Core.Cfg.Lua.TimeoutMS)
	}
	return m, nil
}

// checkDeadline warns when one command can outlast the script callback:
// the script would be stopped while the module still waits.
func (m *Module) checkDeadline(luaMS int) {
	worst := time.Duration(m.tcfg.retr) * m.tcfg.tout
	if luaMS > 0 && worst >= time.Duration(luaMS)*time.Millisecond {
		m.log.Warn("rtpengine_retr x rtpengine_tout_ms reaches lua.timeout_ms: a dead instance stops the script before failover",
			zap.Duration("per_instance", worst), zap.Int("lua_timeout_ms", luaMS))
	}
}

// install sets the instance list at start-up.
func (m *Module) install(defs []nodeDef) {
	nodes := make([]*node, 0, len(defs))
	for _, d := range defs {
		nodes = append(nodes, newNode(d, 0, m.tcfg))
	}
	m.installOpened(defs, nodes)
}

// Start opens the control sockets (or reads the instances from the
// database) and pings every instance once, as Kamailio does at start-up;
// one that does not answer starts disabled.
func (m *Module) Start() error {
	if m.cfg.dbURL != "" {
		if err := m.reload(context.Background()); err != nil {
			return err
		}
	} else {
		for _, n := range m.pool.byURL("all") {
			if err := n.open(); err != nil {
				return err
			}
		}
	}
	m.pingAll()
	m.wg.Add(1)
	go m.sweeper()
	return nil
}

// pingAll tests every instance in parallel, once each.
func (m *Module) pingAll() {
	var wg sync.WaitGroup
	for _, n := range m.pool.byURL("all") {
		if d, _, _ := n.state(); d {
			continue
		}
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*m.tcfg.tout)
			defer cancel()
			if err := n.ping(ctx, 1); err != nil {
				n.disable(m.pool.disableTout)
				m.log.Warn("rtpengine instance not answering at start-up: disabled", zap.String("url", n.def.URL), zap.Error(err))
			}
		}(n)
	}
	wg.Wait()
}

func (m *Module) sweeper() {
	defer m.wg.Done()
	iv := min(max(m.pool.stickyTout/4, time.Second), time.Minute)
	tk := time.NewTicker(iv)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-tk.C:
			m.pool.expire(now)
		}
	}
}

// Stop closes the control sockets.
func (m *Module) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
	for _, n := range m.pool.byURL("all") {
		n.close()
	}
}
