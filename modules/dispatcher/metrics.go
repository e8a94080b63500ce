package dispatcher

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Per-destination metrics. The label sets are bounded by the loaded list,
// which the operator controls.
var (
	descUp = prometheus.NewDesc("luasbc_dispatcher_destination_up",
		"1 when the destination is selectable (active or trying), 0 when inactive or disabled.",
		[]string{"setid", "uri"}, nil)
	descState = prometheus.NewDesc("luasbc_dispatcher_destination_state",
		"Always 1; the state label is dispatcher.list's FLAGS (AP, IP, TX, DX...).",
		[]string{"setid", "uri", "state"}, nil)
	descLatency = prometheus.NewDesc("luasbc_dispatcher_destination_latency_seconds",
		"Keepalive round trip (ds_ping_latency_stats): kind avg (mean), est (weighted estimate), max.",
		[]string{"setid", "uri", "kind"}, nil)
	descPingTimeouts = prometheus.NewDesc("luasbc_dispatcher_destination_ping_timeouts_total",
		"Keepalives of the destination that timed out (ds_ping_latency_stats).",
		[]string{"setid", "uri"}, nil)
)

// collector exports the current table's destinations.
type collector struct{ d *Dispatcher }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descState
	ch <- descLatency
	ch <- descPingTimeouts
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	t := c.d.tab.Load()
	if t == nil {
		return
	}
	for _, s := range t.order {
		id := strconv.Itoa(s.id)
		for _, dd := range s.dests {
			st := dd.state.Load()
			up := 1.0
			if skipped(st) {
				up = 0
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, id, dd.uri)
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, id, dd.uri,
				stateLetters(st|uint32(dd.flags&flagNoPing)))
			if !c.d.cfg.latencyStats {
				continue
			}
			s.mu.Lock()
			l := dd.lat
			s.mu.Unlock()
			for kind, ms := range map[string]float64{"avg": l.avg, "est": l.est, "max": float64(l.max)} {
				ch <- prometheus.MustNewConstMetric(descLatency, prometheus.GaugeValue, ms/1000, id, dd.uri, kind)
			}
			ch <- prometheus.MustNewConstMetric(descPingTimeouts, prometheus.CounterValue, float64(l.timeouts), id, dd.uri)
		}
	}
}
