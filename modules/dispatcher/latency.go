package dispatcher

import "math"

// latency are the keepalive round-trip statistics of a destination
// (ds_ping_latency_stats): a running mean and standard deviation (Welford),
// an exponentially weighted estimate of the current latency (weight alpha
// for the past, ds_latency_estimator_alpha/1000), the maximum, and the
// number of keepalives that timed out. Values in milliseconds.
type latency struct {
	avg, m2, std, est float64
	min, max          int
	count             int
	timeouts          uint32
}

// trainedCount is the sample count at which the estimator is taken as
// trained: an initial "latency" attribute starts there, and a stable
// series (deviation under 0.5 ms after 10 samples) jumps there.
const trainedCount = 10000

// maxCount bounds the sample count so the mean keeps following changes
// (after about three weeks of one keepalive a second it becomes a moving
// average).
const maxCount = 1 << 21

func (l *latency) init(ms, count int) {
	*l = latency{avg: float64(ms), est: float64(ms), min: ms, max: ms, count: count, timeouts: l.timeouts}
}

// add records one round trip of ms milliseconds.
func (l *latency) add(ms int, alpha float64) {
	if l.count < maxCount {
		l.count++
	} else if l.count > 0 {
		l.m2 -= l.m2 / float64(l.count)
	}
	if l.count == 1 {
		l.init(ms, 1)
	}
	if l.count > 10 && l.count < trainedCount && l.std < 0.5 {
		l.count = trainedCount
	}
	if ms < l.min {
		l.min = ms
	}
	if ms > l.max {
		l.max = ms
	}
	if l.count > 1 {
		d := float64(ms) - l.avg
		l.avg += d / float64(l.count)
		l.m2 += d * (float64(ms) - l.avg)
		l.std = math.Sqrt(l.m2 / float64(l.count-1))
	}
	if l.count < 10 {
		l.est = l.avg
	} else {
		l.est = l.est*alpha + float64(ms)*(1-alpha)
	}
}

// congestion is how far the current estimate is above the normal latency.
func (l *latency) congestion() int {
	c := int(l.est - l.avg)
	if c < 0 {
		return 0
	}
	return c
}
