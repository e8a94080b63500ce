package rtpengine

import (
	"encoding/json"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/kemi"
)

// Exports implements kemi.Instance: Kamailio's KSR.rtpengine functions,
// each "name(flags)" with a "name0()" sibling where Kamailio has one.
func (m *Module) Exports() []kemi.Export {
	pair := func(name, doc string, o *op) []kemi.Export {
		return []kemi.Export{
			kemi.FnStrInt(name, doc+" 1 done, -1 failed.", func(c *kemi.Ctx, flags string) int { return m.run(c, o, flags) }),
			kemi.Fn0Int(name+"0", doc+" No flags. 1 done, -1 failed.", func(c *kemi.Ctx) int { return m.run(c, o, "") }),
		}
	}
	var out []kemi.Export
	out = append(out,
		kemi.FnStrInt("rtpengine_manage", "Offer on INVITE/UPDATE with SDP, answer on ACK/PRACK and on 1xx/2xx replies with SDP, delete on BYE, CANCEL, negative replies and in failure route. 1 done, -1 failed or nothing to do.",
			func(c *kemi.Ctx, flags string) int { return m.manage(c, flags) }),
		kemi.Fn0Int("rtpengine_manage0", "rtpengine_manage without flags.", func(c *kemi.Ctx) int { return m.manage(c, "") }),
	)
	out = append(out, pair("rtpengine_offer", "Send the message's SDP as an offer; the body becomes rtpengine's SDP.", opOffer)...)
	out = append(out, pair("rtpengine_answer", "Send the message's SDP as an answer; the body becomes rtpengine's SDP.", opAnswer)...)
	out = append(out, pair("rtpengine_delete", "End the media session of the call (or of a branch with via-branch / to-tag).", opDelete)...)
	out = append(out, pair("rtpengine_query", "Ask rtpengine about the call (statistics).", opQuery)...)
	out = append(out,
		kemi.FnStrInt("rtpengine_info", "Trickle ICE: not supported in luasbc; -1.", func(c *kemi.Ctx, _ string) int {
			c.Logger().Error("rtpengine_info (trickle ICE fragments) is not supported in luasbc")
			return -1
		}),
		kemi.Fn0Int("rtpengine_info0", "Trickle ICE: not supported in luasbc; -1.", func(c *kemi.Ctx) int {
			c.Logger().Error("rtpengine_info (trickle ICE fragments) is not supported in luasbc")
			return -1
		}),
		kemi.Fn0Int("start_recording", "Ask rtpengine to record the call. 1 done, -1 failed.", func(c *kemi.Ctx) int { return m.run(c, opStartRec, "") }),
		kemi.Fn0Int("stop_recording", "Stop recording the call. 1 done, -1 failed.", func(c *kemi.Ctx) int { return m.run(c, opStopRec, "") }),
		kemi.FnStrInt("play_media", "Play a file (file=, db-id=) to a party (from-tag= or the message's From). 1 done, -1 failed.",
			func(c *kemi.Ctx, flags string) int { return m.run(c, opPlay, flags) }),
		kemi.FnStrInt("play_dtmf", "Inject a DTMF event (code= [duration=] [volume=] [pause=]). 1 done, -1 failed.",
			func(c *kemi.Ctx, flags string) int { return m.run(c, opPlayDTMF, flags) }),
	)
	out = append(out, pair("block_dtmf", "Block DTMF events (all, directional, address=, from-tag=).", opBlockDT)...)
	out = append(out, pair("unblock_dtmf", "Unblock DTMF events.", opUnblkDT)...)
	out = append(out, pair("block_media", "Block media (all, directional, address=, from-tag=).", opBlockMe)...)
	out = append(out, pair("unblock_media", "Unblock media.", opUnblkMe)...)
	out = append(out, pair("silence_media", "Replace audio with silence.", opSilence)...)
	out = append(out, pair("unsilence_media", "Stop silencing.", opUnsilenc)...)
	out = append(out, pair("start_forwarding", "Start PCM forwarding of the recording daemon.", opStartFwd)...)
	out = append(out, pair("stop_forwarding", "Stop PCM forwarding.", opStopFwd)...)
	out = append(out, pair("stop_media", "Stop what play_media plays.", opStopPlay)...)
	out = append(out,
		kemi.FnIntInt("set_rtpengine_set", "Use set r1 for the next commands of this message. 1 ok, -1 no such set.",
			func(c *kemi.Ctx, set int) int { return m.setSets(c, set) }),
		kemi.FnIntIntInt("set_rtpengine_set2", "Use set r1, then set r2 (daisy-chained instances). 1 ok, -1 no such set.",
			func(c *kemi.Ctx, a, b int) int { return m.setSets(c, a, b) }),
		kemi.FnStrStrInt("rtpengine_query_v", "Query the call; store the answer as JSON (fmt \"j\" compact, \"jp\" pretty) in the variable named by var. 1 done, -1 failed.",
			func(c *kemi.Ctx, format, pv string) int { return m.queryV(c, format, pv) }),
	)
	return out
}

// setSets stores the set chain of the message.
func (m *Module) setSets(c *kemi.Ctx, sets ...int) int {
	for _, s := range sets {
		if !m.pool.hasSet(s) {
			c.Logger().Error("rtpengine: no such set", zap.Int("set", s))
			return -1
		}
	}
	if len(sets) == 2 && sets[0] == sets[1] {
		c.Logger().Error("rtpengine: set_rtpengine_set2 needs two different sets", zap.Int("set", sets[0]))
		return -1
	}
	c.M.SetExt(extSets, sets)
	return 1
}

// queryV is rtpengine_query_v.
func (m *Module) queryV(c *kemi.Ctx, format, pv string) int {
	if format != "j" && format != "jp" {
		c.Logger().Error("rtpengine_query_v: format is j or jp", zap.String("format", format))
		return -1
	}
	d, code := m.exec(c, opQuery, "", false)
	if code < 0 {
		return code
	}
	var b []byte
	var err error
	if format == "jp" {
		b, err = json.MarshalIndent(d, "", "  ")
	} else {
		b, err = json.Marshal(d)
	}
	if err == nil {
		err = c.SetPV(pv, kemi.StrV(string(b)))
	}
	if err != nil {
		c.Logger().Error("rtpengine_query_v: result not stored", zap.String("var", pv), zap.Error(err))
		return -1
	}
	return 1
}
