package dispatcher_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/core/metrics"
	"github.com/luasbc/luasbc/kemi/kemitest"
)

// Keepalives against a peer the test controls: answered, the destination
// stays AP; silent, it goes TP then IP at ds_probing_threshold, running
// dst-down; answering again it needs ds_inactive_threshold successes to be
// AP, running dst-up.
func TestProbing(t *testing.T) {
	p := newPeer(t)
	p.answer("OPTIONS", 200)
	list := "1 " + p.URI() + " 8\n"
	script := `
function ksr_request_route() end
function ksr_ds_event(ev)
  KSR.info("ds event " .. ev .. " " .. KSR.pv.get("$dsv(uri)") .. " ru " .. KSR.pv.get("$ru") .. " code " .. KSR.pv.get("$dsv(code)") .. "\n")
end
`
	h := kemitest.New(t, script, kemitest.Options{Modules: map[string]map[string]any{
		"sl": nil, "tm": {"fr_timer": 400},
		"dispatcher": {"list_file": writeFile(t, t.TempDir(), "ds.list", list), "ds_ping_interval": 1,
			"ds_probing_mode": 1, "ds_probing_threshold": 2, "ds_inactive_threshold": 2,
			"ds_ping_latency_stats": 1, "event_callback": "ksr_ds_event", "ds_ping_from": "sip:probe@sbc.test"}}})
	key := "1 " + p.URI()

	opts := p.waitReceived("OPTIONS ", 1, 3*time.Second)
	if len(opts) == 0 {
		t.Fatal("no keepalive within 3 s")
	}
	o := opts[0]
	if !strings.HasPrefix(o, "OPTIONS "+p.URI()+" SIP/2.0\r\n") || !strings.Contains(header(o, "From"), "<sip:probe@sbc.test>;tag=") ||
		header(o, "To") != "<"+p.URI()+">" || !strings.Contains(header(o, "Via"), ";branch=z9hG4bKdsp.") ||
		header(o, "CSeq") != "10 OPTIONS" || header(o, "Max-Forwards") != "70" {
		t.Errorf("keepalive:\n%s", o)
	}
	waitFlags(t, h, key, "AP", 3*time.Second)

	p.answer("OPTIONS", 0)
	waitFlags(t, h, key, "TP", 3*time.Second)
	// Marked down within the threshold: 2 keepalives of 1 s (+ slack).
	if d := waitFlags(t, h, key, "IP", 4*time.Second); d > 3*time.Second {
		t.Errorf("IP %v after TP", d)
	}
	if v, ok := gauge(t, "luasbc_dispatcher_destination_up", "uri", p.URI()); !ok || v != 0 {
		t.Errorf("destination_up of an inactive destination: %v (found %v)", v, ok)
	}
	if _, ok := gauge(t, "luasbc_dispatcher_destination_state", "state", "IP"); !ok {
		t.Error("no destination_state{state=\"IP\"}")
	}
	// The event runs just after the state changes.
	if !waitLog(h, "ds event dispatcher:dst-down "+p.URI()+" ru "+p.URI()+" code 408", time.Second) {
		t.Error("no dst-down event")
	}

	p.answer("OPTIONS", 200)
	waitFlags(t, h, key, "AP", 5*time.Second)
	if !waitLog(h, "ds event dispatcher:dst-up "+p.URI(), time.Second) {
		t.Error("no dst-up event")
	}
	if v, ok := gauge(t, "luasbc_dispatcher_destination_up", "uri", p.URI()); !ok || v != 1 {
		t.Errorf("destination_up of an active destination: %v (found %v)", v, ok)
	}
	if v, ok := gauge(t, "luasbc_dispatcher_destination_latency_seconds", "kind", "avg"); !ok || v < 0 || v > 1 { // loopback: under a millisecond, 0
		t.Errorf("latency avg: %v s (found %v)", v, ok)
	}
	res, _ := rpcCall(t, h, "dispatcher.list")
	var l struct {
		RECORDS []struct {
			SET struct {
				TARGETS []struct{ DEST map[string]json.RawMessage }
			}
		}
	}
	b, _ := json.Marshal(res)
	_ = json.Unmarshal(b, &l)
	lat := string(l.RECORDS[0].SET.TARGETS[0].DEST["LATENCY"])
	if !strings.Contains(lat, `"AVG"`) || !strings.Contains(lat, `"TIMEOUT":`) || strings.Contains(lat, `"TIMEOUT":0`) {
		t.Errorf("latency stats: %s (timeouts were seen)", lat)
	}

	// Keepalives switched off: nothing more is sent.
	if r, err := rpcCall(t, h, "dispatcher.ping_active", 0); err != nil || asJSON(r) != `{"NewPingState":0,"OldPingState":1}` {
		t.Fatalf("ping_active 0: %v %v", asJSON(r), err)
	}
	time.Sleep(1200 * time.Millisecond) // a keepalive may be in flight
	n := len(p.received("OPTIONS "))
	time.Sleep(1500 * time.Millisecond)
	if m := len(p.received("OPTIONS ")); m != n {
		t.Errorf("%d keepalives after ping_active 0", m-n)
	}
	if r, _ := rpcCall(t, h, "dispatcher.ping_active"); asJSON(r) != `{"OldPingState":0}` {
		t.Errorf("ping_active: %s", asJSON(r))
	}
}

// A reply code listed in ds_ping_reply_codes counts as success; other
// error replies are failures.
func TestPingReplyCodes(t *testing.T) {
	p := newPeer(t)
	p.answer("OPTIONS", 404)
	q := newPeer(t)
	q.answer("OPTIONS", 500)
	list := "1 " + p.URI() + " 8\n2 " + q.URI() + " 8\n"
	h := kemitest.New(t, "function ksr_request_route() end", kemitest.Options{Modules: map[string]map[string]any{
		"sl": nil, "dispatcher": {"list_file": writeFile(t, t.TempDir(), "ds.list", list), "ds_ping_interval": 1,
			"ds_probing_mode": 1, "ds_ping_reply_codes": "code=404"}}})
	waitFlags(t, h, "2 "+q.URI(), "IP", 4*time.Second)
	if f := flagsOf(t, h)["1 "+p.URI()]; f != "AP" {
		t.Errorf("404 accepted by ds_ping_reply_codes: %s", f)
	}
}

// A destination that answers keepalives later than their timeout (four
// fifths of the interval here) is marked down like a silent one, and comes
// back once it answers in time.
func TestSlowDestination(t *testing.T) {
	p := newPeer(t)
	p.answer("OPTIONS", 200)
	p.slow(1500 * time.Millisecond)
	h := kemitest.New(t, "function ksr_request_route() end", kemitest.Options{Modules: map[string]map[string]any{
		"sl": nil, "dispatcher": {"list_file": writeFile(t, t.TempDir(), "ds.list", "1 "+p.URI()+" 8\n"),
			"ds_ping_interval": 1, "ds_probing_mode": 1}}})
	key := "1 " + p.URI()
	waitFlags(t, h, key, "IP", 4*time.Second)
	p.slow(0)
	waitFlags(t, h, key, "AP", 4*time.Second)
}

// gauge reads one series of the server's /metrics registry: the first whose
// label name has value.
func gauge(t *testing.T, metric, name, value string) (float64, bool) {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == name && l.GetValue() == value {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue(), true
					}
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}
