// Package pike detects request floods per source address (Kamailio's pike
// module): a source sending more than reqs_density_per_unit requests within
// one sampling_time_unit is reported by pike_check_req / pike_check_ip, and
// the script decides what to do (usually ban it in an htable).
package pike

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/luasbc/luasbc/core/stats"
	"github.com/luasbc/luasbc/kemi"
)

// Bounds of the parameters (beyond them a value is surely a mistake).
const (
	maxUnit        = 3600
	maxLatency     = 86400
	maxDensity     = 1 << 30
	maxTrackedIPs  = 1 << 26
	defaultTracked = 200000
)

func init() {
	kemi.RegisterModule(&kemi.Module{
		Name: "pike",
		Doc:  "Flood detection per source IP: more than reqs_density_per_unit requests in sampling_time_unit seconds marks the source as flooding until it slows down.",
		Params: []kemi.ParamDef{
			{Name: "sampling_time_unit", Default: 2, Doc: "Length of one sampling unit in seconds (1-3600)."},
			{Name: "reqs_density_per_unit", Default: 30, Doc: "Requests a source may send within one sampling unit; the next one marks it as flooding."},
			{Name: "remove_latency", Default: 120, Doc: "Seconds a source is remembered after its last request (1-86400); not how long it stays blocked."},
			{Name: "pike_log_level", Default: 0, Doc: "Kamailio log level of the block and release messages: -1 L_ERR, 0 L_WARN, 1 L_NOTICE, 2 L_INFO, 3 L_DBG."},
			{Name: "ipv6_prefix_len", Default: 128, Doc: "luasbc: count IPv6 sources per prefix of this length (64 = per /64); 128 counts each address."},
			{Name: "max_tracked_ips", Default: defaultTracked, Doc: "luasbc: most sources kept in memory; sources beyond it are checked by a fixed-size count-min sketch."},
		},
		New: newPike,
	})
}

type pike struct {
	log   *zap.Logger
	level zapcore.Level
	keyer keyer
	unitS int
	t     *table
	myIP  func(netip.Addr) bool // nil: no exemption (API listing)

	blocks   *stats.Counter
	stop     chan struct{}
	done     sync.WaitGroup
	stopOnce sync.Once
}

func newPike(env *kemi.Env) (kemi.Instance, error) {
	p := env.Params
	unit, density, latency := p.Int("sampling_time_unit"), p.Int("reqs_density_per_unit"), p.Int("remove_latency")
	v6, tracked := p.Int("ipv6_prefix_len"), p.Int("max_tracked_ips")
	switch {
	case unit < 1 || unit > maxUnit:
		return nil, fmt.Errorf("sampling_time_unit %d out of range 1-%d", unit, maxUnit)
	case density < 1 || density > maxDensity:
		return nil, fmt.Errorf("reqs_density_per_unit %d out of range 1-%d", density, maxDensity)
	case latency < 1 || latency > maxLatency:
		return nil, fmt.Errorf("remove_latency %d out of range 1-%d", latency, maxLatency)
	case v6 < 1 || v6 > 128:
		return nil, fmt.Errorf("ipv6_prefix_len %d out of range 1-128", v6)
	case tracked < 1 || tracked > maxTrackedIPs:
		return nil, fmt.Errorf("max_tracked_ips %d out of range 1-%d", tracked, maxTrackedIPs)
	}
	x := &pike{log: env.Log, level: kamailioLevel(p.Int("pike_log_level")), keyer: keyer{v6bits: v6}, unitS: unit,
		t: newTable(tableConfig{unit: time.Duration(unit) * time.Second, limit: uint32(density),
			latency: time.Duration(latency) * time.Second, maxIPs: tracked}),
		stop: make(chan struct{}), blocks: stats.New("pike", "blocks", "Sources detected as flooding (block events)")}
	if x.log == nil {
		x.log = zap.NewNop()
	}
	if env.Core != nil {
		x.myIP = env.Core.IsMyIP
	}
	return x, nil
}

// kamailioLevel maps Kamailio's numeric log levels to zap (crit and worse
// are written as errors: zap's higher levels panic or exit).
func kamailioLevel(n int) zapcore.Level {
	switch {
	case n <= -1:
		return zapcore.ErrorLevel
	case n == 0:
		return zapcore.WarnLevel
	case n <= 2:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

// Start registers the statistics and runs the sweeper, which does the work
// of Kamailio's two pike timers once a second: releasing sources that
// stopped flooding and forgetting quiet ones.
func (x *pike) Start() error {
	stats.Gauge("pike", "blocked_ips", x.t.blocked.Load)
	stats.Gauge("pike", "tracked_ips", x.t.tracked.Load)
	stats.Gauge("pike", "overflow_checks", x.t.overflow.Load)
	x.done.Add(1)
	go func() {
		defer x.done.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-x.stop:
				return
			case <-tick.C:
				x.t.sweep(x.logRelease)
			}
		}
	}()
	return nil
}

// Stop ends the sweeper.
func (x *pike) Stop() {
	x.stopOnce.Do(func() { close(x.stop) })
	x.done.Wait()
}

// check is the common part of both functions: sources we listen on are
// never counted (a proxy talking to itself, or forwarding to a local
// service, is no flood).
func (x *pike) check(c *kemi.Ctx, src netip.Addr) int {
	if !src.IsValid() {
		return rcAllowed // Kamailio answers 1 on internal errors
	}
	if x.myIP != nil && x.myIP(src) {
		return rcAllowed
	}
	key := x.keyer.key(src)
	r := x.t.check(key)
	if r.released {
		x.logRelease(key)
	}
	if r.rc == rcNewlyBlocked {
		x.blocks.Inc()
		x.logBlock(c, key, src, r)
	}
	return r.rc
}

// logBlock writes the one line per newly blocked source. Its text is
// stable for log watchers (deploy/fail2ban): "pike: blocking IP <ip> (<n>
// requests in <unit>s)", with the IP also in the field "ip".
func (x *pike) logBlock(c *kemi.Ctx, key, src netip.Addr, r result) {
	log := x.log
	if c != nil {
		log = c.Logger()
	}
	ip := x.keyer.show(key)
	ce := log.Check(x.level, fmt.Sprintf("pike: blocking IP %s (%d requests in %ds)", ip, r.hits, x.unitS))
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("ip", ip), zap.Uint32("hits", r.hits), zap.Int("unit_s", x.unitS)}
	if key != src {
		fields = append(fields, zap.String("addr", src.String()))
	}
	if r.overflow {
		fields = append(fields, zap.Bool("overflow", true))
	}
	ce.Write(fields...)
}

func (x *pike) logRelease(key netip.Addr) {
	ip := x.keyer.show(key)
	if ce := x.log.Check(x.level, "pike: unblocking IP "+ip); ce != nil {
		ce.Write(zap.String("ip", ip))
	}
}

// Exports implements kemi.Instance.
func (x *pike) Exports() []kemi.Export {
	return []kemi.Export{
		kemi.Fn0Int("pike_check_req", "Count this request for its source IP. 1 not flooding (also on internal errors, and always for our own addresses), -1 source already detected as flooding, -2 detected with this request.",
			func(c *kemi.Ctx) int {
				if c.M == nil {
					return rcAllowed
				}
				return x.check(c, c.M.Src.Addr().Unmap())
			}),
		kemi.FnStrInt("pike_check_ip", "As pike_check_req for the given IPv4 or IPv6 address. -1 also when it is not an address.",
			func(c *kemi.Ctx, s string) int {
				if strings.TrimSpace(s) == "" {
					return rcBlocked // as Kamailio: no address, no log
				}
				ip, ok := parseIP(s)
				if !ok {
					c.Logger().Error("pike_check_ip: not an IP address", zap.String("ip", truncate(s, 64)))
					return rcBlocked
				}
				return x.check(c, ip)
			}),
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
