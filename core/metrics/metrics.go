// Package metrics exposes the server's numbers to Prometheus: every
// Kamailio-style counter of core/stats (as luasbc_<group>_<name>), plus
// labelled SIP traffic counters and the Lua callback time histogram, on
// GET /metrics of the admin listener; /health and /ready answer probes.
package metrics

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/luasbc/luasbc/core/stats"
)

// Registry holds everything /metrics shows.
var Registry = prometheus.NewRegistry()

var (
	received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luasbc_sip_received_total",
		Help: "SIP messages received and parsed, by type (request/reply), method and status class (1xx..6xx, \"\" for requests).",
	}, []string{"type", "method", "class"})
	sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luasbc_sip_sent_total",
		Help: "SIP messages sent (first transmissions), by type, method and status class; local = generated here.",
	}, []string{"type", "method", "class", "local"})
	luaSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "luasbc_lua_callback_seconds",
		Help:    "Time a Lua callback ran (wall clock), by function.",
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
	}, []string{"function"})
	rpcCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luasbc_rpc_calls_total",
		Help: "JSON-RPC calls, by method and outcome (ok/error).",
	}, []string{"method", "outcome"})
)

func init() {
	Registry.MustRegister(received, sent, luaSeconds, rpcCalls, statsCollector{},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// knownMethods bounds the method label: methods come from the network, and
// an attacker must not be able to create series at will.
var knownMethods = map[string]bool{"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "REGISTER": true,
	"OPTIONS": true, "INFO": true, "UPDATE": true, "PRACK": true, "SUBSCRIBE": true, "NOTIFY": true,
	"MESSAGE": true, "REFER": true, "PUBLISH": true}

func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}

func classLabel(status int) string {
	if status < 100 || status > 699 {
		return ""
	}
	return string(rune('0'+status/100)) + "xx"
}

func typeLabel(status int) string {
	if status > 0 {
		return "reply"
	}
	return "request"
}

// Received counts a parsed message; status is 0 for requests.
func Received(method string, status int) {
	received.WithLabelValues(typeLabel(status), methodLabel(method), classLabel(status)).Inc()
}

// Sent counts a message leaving; status is 0 for requests.
func Sent(method string, status int, local bool) {
	l := "false"
	if local {
		l = "true"
	}
	sent.WithLabelValues(typeLabel(status), methodLabel(method), classLabel(status), l).Inc()
}

// LuaCallback records how long a callback ran. Function names come from
// the script, a bounded set.
func LuaCallback(function string, d time.Duration) {
	luaSeconds.WithLabelValues(function).Observe(d.Seconds())
}

// RPCCall counts an RPC call; unknown methods share one label value.
func RPCCall(method string, known, ok bool) {
	if !known {
		method = "unknown"
	}
	outcome := "ok"
	if !ok {
		outcome = "error"
	}
	rpcCalls.WithLabelValues(method, outcome).Inc()
}

// statsCollector exports core/stats: counters and gauges registered the
// Kamailio way, which Prometheus sees as untyped values.
type statsCollector struct{}

func (statsCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: the set grows as modules register

func (statsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range stats.Snapshot() {
		help := e.Help
		if help == "" {
			help = e.Group + ":" + e.Name
		}
		d := prometheus.NewDesc(metricName(e.Group, e.Name), help, nil, nil)
		ch <- prometheus.MustNewConstMetric(d, prometheus.UntypedValue, float64(e.Value))
	}
}

// metricName turns "tm:UAS_transactions" into luasbc_tm_uas_transactions.
func metricName(group, name string) string {
	var b strings.Builder
	b.WriteString("luasbc_")
	for _, r := range strings.ToLower(group + "_" + name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Handler serves /metrics.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ready is set once the server listens with its script loaded.
var ready atomic.Bool

// SetReady marks the server ready (true) or draining (false).
func SetReady(v bool) { ready.Store(v) }

// HealthHandler answers 200 while the process serves HTTP at all (liveness).
func HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// ReadyHandler answers 200 once the server is ready to take traffic, 503
// before that and while it stops (readiness).
func ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
