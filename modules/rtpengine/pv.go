package rtpengine

import (
	"fmt"

	"github.com/luasbc/luasbc/kemi"
)

// PVs implements kemi.PVProvider: $rtpstat and $rtpestat, the call's packet
// counters from a query ("RTP: B bytes, P packets, E errors; RTCP: ...").
func (m *Module) PVs() []*kemi.PVClass {
	get := func(c *kemi.Ctx, _ *kemi.PVSpec) kemi.Value {
		d, code := m.exec(c, opQuery, "", false)
		if code < 0 {
			return kemi.Nil
		}
		return kemi.StrV(formatStats(d))
	}
	return []*kemi.PVClass{
		{Name: "rtpstat", Doc: "RTP statistics of the call from rtpengine (a query)", Get: get},
		{Name: "rtpestat", Doc: "same as $rtpstat", Get: get},
	}
}

// formatStats renders the totals of a query answer.
func formatStats(d map[string]any) string {
	totals, _ := d["totals"].(map[string]any)
	part := func(name string) string {
		s, _ := totals[name].(map[string]any)
		n := func(k string) int64 { v, _ := s[k].(int64); return v }
		return fmt.Sprintf("%s: %d bytes, %d packets, %d errors", name, n("bytes"), n("packets"), n("errors"))
	}
	return part("RTP") + "; " + part("RTCP")
}
