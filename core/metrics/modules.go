package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Modules with labelled metrics of their own (per destination, per
// instance) register a collector by name. A module started again (a test, a
// second instance in one process) replaces its collector instead of
// panicking on a duplicate registration, which prometheus.Register would.
var modules sync.Map // name -> prometheus.Collector

// SetCollector registers c under name.
func SetCollector(name string, c prometheus.Collector) { modules.Store(name, c) }

// RemoveCollector removes c if it is still the one registered under name.
func RemoveCollector(name string, c prometheus.Collector) { modules.CompareAndDelete(name, c) }

// moduleCollectors collects every registered module collector. Unchecked
// (Describe sends nothing): the set changes at run time.
type moduleCollectors struct{}

func (moduleCollectors) Describe(chan<- *prometheus.Desc) {}

func (moduleCollectors) Collect(ch chan<- prometheus.Metric) {
	modules.Range(func(_, v any) bool {
		v.(prometheus.Collector).Collect(ch)
		return true
	})
}

func init() { Registry.MustRegister(moduleCollectors{}) }
