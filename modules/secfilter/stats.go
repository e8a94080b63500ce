package secfilter

import (
	"sync/atomic"

	"github.com/luasbc/luasbc/core/stats"
)

// counter indexes the statistics secfilter.stats prints: what was blocked
// or allowed, by which list and which header part — Kamailio's 26 counters.
type counter int

const (
	cUA counter = iota
	cCountry
	cFromDomain
	cToDomain
	cContactDomain
	cIP
	cFromName
	cToName
	cContactName
	cFromUser
	cToUser
	cContactUser
	nListCounters
)

// counterNames are the keys of secfilter.stats, as Kamailio prints them.
var counterNames = [nListCounters]string{
	"User-Agent", "Country", "From-Domain", "To-Domain", "Contact-Domain", "IP-Address",
	"From-Name", "To-Name", "Contact-Name", "From-User", "To-User", "Contact-User",
}

// metricNames are the stats/Prometheus names (secfilter:bl_ua, …).
var metricNames = [nListCounters]string{
	"ua", "country", "from_domain", "to_domain", "contact_domain", "ip",
	"from_name", "to_name", "contact_name", "from_user", "to_user", "contact_user",
}

// counters are one module instance's statistics. Checks run on every
// worker at once: plain atomics, no lock.
type counters struct {
	bl, wl   [nListCounters]atomic.Int64
	dst, sql atomic.Int64
}

func (c *counters) count(v verdict, k counter) {
	switch v {
	case allowed:
		c.wl[k].Add(1)
	case blocked:
		c.bl[k].Add(1)
	}
}

func (c *counters) reset() {
	for i := range c.bl {
		c.bl[i].Store(0)
		c.wl[i].Store(0)
	}
	c.dst.Store(0)
	c.sql.Store(0)
}

// snapshot is the secfilter.stats answer.
func (c *counters) snapshot() map[string]any {
	bl, wl := map[string]int64{}, map[string]int64{}
	for i, n := range counterNames {
		bl[n] = c.bl[i].Load()
		wl[n] = c.wl[i].Load()
	}
	return map[string]any{
		"Blacklist": bl,
		"Whitelist": wl,
		"Other":     map[string]int64{"Destination": c.dst.Load(), "SQL-Injection": c.sql.Load()},
	}
}

// register exposes the counters in stats.get_statistics and on /metrics as
// secfilter:bl_<list>, secfilter:wl_<list>, secfilter:bl_dst and
// secfilter:bl_sql (read from this instance, so stats_reset resets them).
func (c *counters) register() {
	for i, n := range metricNames {
		i := i
		stats.Gauge("secfilter", "bl_"+n, func() int64 { return c.bl[i].Load() })
		stats.Gauge("secfilter", "wl_"+n, func() int64 { return c.wl[i].Load() })
	}
	stats.Gauge("secfilter", "bl_dst", c.dst.Load)
	stats.Gauge("secfilter", "bl_sql", c.sql.Load)
}
