package dispatcher

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	corecfg "github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/core/metrics"
	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

// Dispatcher is a configured dispatcher module.
type Dispatcher struct {
	core *core.Core // nil when only the API is listed
	eng  *kemi.Engine
	log  *zap.Logger
	cfg  config
	src  source

	tab   atomic.Pointer[table]
	loads *loadTracker // nil unless ds_hash_size > 0

	reloadMu   sync.Mutex
	lastReload time.Time

	pinger     *pinger
	pingActive atomic.Bool

	hashFmtOnce sync.Once
	hashFmt     *kemi.Format

	warned  sync.Map
	nWarned atomic.Int32
	stop    chan struct{}
	wg      sync.WaitGroup

	st struct {
		selected, failed, failovers, reloads, reloadErrs, pingsSent, pingsFailed *stats.Counter
	}
}

func newDispatcher(env *kemi.Env) (kemi.Instance, error) {
	cfg, err := parseConfig(env.Params)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{core: env.Core, eng: env.Engine, log: env.Log, cfg: cfg, stop: make(chan struct{})}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	d.pingActive.Store(true)
	if cfg.hashSize > 0 {
		d.loads = newLoadTracker(cfg.hashExpire, cfg.hashInitExpire)
	}
	d.tab.Store(newTable(nil))
	d.st.selected = stats.New("dispatcher", "selected", "destinations selected by ds_select*")
	d.st.failed = stats.New("dispatcher", "no_destination", "ds_select* calls that found no active destination")
	d.st.failovers = stats.New("dispatcher", "failovers", "ds_next_dst/ds_next_domain that moved to another destination")
	d.st.reloads = stats.New("dispatcher", "reloads", "lists loaded (start, reload, add, remove)")
	d.st.reloadErrs = stats.New("dispatcher", "reload_failures", "loads that failed and kept the previous list")
	d.st.pingsSent = stats.New("dispatcher", "pings_sent", "keepalives sent")
	d.st.pingsFailed = stats.New("dispatcher", "pings_failed", "keepalives that failed (timeout, error reply, send error)")
	var cc *corecfg.Config
	switch {
	case env.Core != nil:
		cc = env.Core.Cfg
	case env.Engine != nil:
		cc = env.Engine.Cfg
	}
	d.src = d.chooseSource(cc)
	if env.Core == nil {
		return d, nil // listing the API: no I/O
	}
	d.pinger = newPinger(d, pingTimeout(cc, cfg.pingInterval))
	env.Core.ReplyHandlers = append(env.Core.ReplyHandlers, d.pinger.onReply)
	// A list file is read here rather than in Start so that sbc --check
	// reports it; the database is reached in Start.
	if _, isFile := d.src.(fileSource); isFile {
		if err := d.loadInitial(context.Background()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// chooseSource picks where the list comes from: the module's own db_url,
// else list_file, else the global db_url, else dispatcher.list beside the
// config file.
func (d *Dispatcher) chooseSource(cc *corecfg.Config) source {
	global := ""
	if cc != nil {
		global = cc.DBURL
	}
	pg := func(url string) source {
		return &pgSource{url: url, cols: d.cfg.cols, extra: d.cfg.extraAttrs}
	}
	switch {
	case d.cfg.dbURL != "":
		return pg(d.cfg.dbURL)
	case d.cfg.listFile != "":
		return fileSource{path: configPath(cc, d.cfg.listFile)}
	case global != "":
		return pg(global)
	}
	return fileSource{path: configPath(cc, "dispatcher.list")}
}

func configPath(cc *corecfg.Config, p string) string {
	if cc == nil || filepath.IsAbs(p) {
		return p
	}
	return cc.Path(p)
}

// pingTimeout is how long a keepalive waits for its reply: tm's fr_timer
// (Kamailio sends keepalives through tm), but at most four fifths of the
// ping interval: a destination has one keepalive in flight at a time, and
// it is settled before the next round sends another.
func pingTimeout(cc *corecfg.Config, interval time.Duration) time.Duration {
	t := 30 * time.Second
	if cc != nil {
		if tm, ok := cc.Modules["tm"]; ok {
			if ms, ok := intValue(tm["fr_timer"]); ok && ms > 0 {
				t = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if limit := interval - interval/5; interval > 0 && limit < t {
		t = limit
	}
	return t
}

func intValue(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		return int(x), true
	case string:
		var n int
		_, err := fmt.Sscan(x, &n)
		return n, err == nil
	}
	return 0, false
}

// loadInitial loads the list at start-up; any failure is a start-up error.
func (d *Dispatcher) loadInitial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := d.reload(ctx); err != nil {
		return fmt.Errorf("%s: %w", d.src.describe(), err)
	}
	return nil
}

// Start loads the table from the database, checks the PV parameters (every
// module's PVs exist now) and starts keepalives and timers.
func (d *Dispatcher) Start() error {
	if d.core == nil {
		return nil
	}
	if _, isDB := d.src.(*pgSource); isDB {
		if err := d.loadInitial(context.Background()); err != nil {
			return err
		}
	}
	if d.eng != nil {
		for name, pv := range map[string]string{"setid_pvname": d.cfg.setidPV, "attrs_pvname": d.cfg.attrsPV} {
			if pv == "" {
				continue
			}
			spec, err := d.eng.ParsePV(pv)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if spec.Class.Set == nil {
				return fmt.Errorf("%s: %s cannot be assigned", name, pv)
			}
		}
	}
	// Without sockets (sbc --check) there is nothing to send from.
	if d.cfg.pingInterval > 0 && len(d.core.TP.Sockets) > 0 {
		d.every(d.cfg.pingInterval, d.pinger.round)
	}
	if d.loads != nil {
		d.every(d.cfg.hashCheck, func() {
			if n := d.loads.expireOld(); n > 0 {
				d.log.Info("dispatcher: call loads expired without BYE", zap.Int("calls", n))
			}
		})
	}
	if d.cfg.dnsMode&dnsRefresh != 0 {
		d.every(d.cfg.dnsInterval, d.refreshDNS)
	}
	metrics.SetCollector("dispatcher", collector{d})
	return nil
}

// every runs f every period on one goroutine until Stop.
func (d *Dispatcher) every(period time.Duration, f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-tk.C:
				f()
			}
		}
	}()
}

// Stop ends the timers and the keepalives in flight.
func (d *Dispatcher) Stop() {
	select {
	case <-d.stop:
		return
	default:
	}
	close(d.stop)
	metrics.RemoveCollector("dispatcher", collector{d})
	d.wg.Wait()
	if d.pinger != nil {
		d.pinger.stopAll()
	}
}

func (d *Dispatcher) resolver() *net.Resolver {
	if d.core != nil && d.core.Resolver != nil {
		return d.core.Resolver
	}
	return net.DefaultResolver
}

// warnOnce logs a problem of the script's use once per kind and value (at
// most 100 distinct ones: values may come from messages).
func (d *Dispatcher) warnOnce(kind, text string, v any) {
	key := fmt.Sprint(kind, v)
	if _, seen := d.warned.Load(key); seen || d.nWarned.Load() >= 100 {
		return
	}
	if _, seen := d.warned.LoadOrStore(key, true); !seen {
		d.nWarned.Add(1)
		d.log.Warn("dispatcher: "+text, zap.Any(kind, v))
	}
}

// stopped reports whether Stop ran.
func (d *Dispatcher) stopped() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// refreshDNS resolves the host names of the loaded destinations again
// (ds_dns_mode 4); a name that fails keeps its last address.
func (d *Dispatcher) refreshDNS() {
	t := d.tab.Load()
	for _, s := range t.order {
		for _, dd := range s.dests {
			if dd.flags&flagNoDNS != 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
			if err := d.resolveDest(ctx, dd, nil, map[string]netip.Addr{}, false); err != nil {
				d.log.Warn("dispatcher: DNS refresh failed, the last address stays", zap.Int("set", dd.setid),
					zap.String("uri", dd.uri), zap.Error(err))
			}
			cancel()
			select {
			case <-d.stop:
				return
			default:
			}
		}
	}
}
