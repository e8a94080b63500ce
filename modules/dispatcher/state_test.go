package dispatcher

import (
	"testing"
	"time"
)

// letters is the dispatcher.list state of a destination.
func (d *Dispatcher) letters(t testing.TB, id int, uri string) string {
	t.Helper()
	_, dd := d.tab.Load().find(id, uri)
	if dd == nil {
		t.Fatalf("no %s", uri)
	}
	return stateLetters(dd.state.Load() | uint32(dd.flags&flagNoPing))
}

func TestPingStateMachine(t *testing.T) {
	d := testDispatcher(t, map[string]any{"ds_probing_mode": 1, "ds_probing_threshold": 3, "ds_inactive_threshold": 2})
	d.load(t, "1 sip:10.0.0.1 8\n")
	u := "sip:10.0.0.1"
	k := destKey{1, u}
	step := func(code int, want string) {
		t.Helper()
		d.pingResult(k, code, "", true, time.Millisecond)
		if got := d.letters(t, 1, u); got != want {
			t.Fatalf("after %d: %s, want %s", code, got, want)
		}
	}
	step(200, "AP")
	step(408, "TP") // 1 failure
	step(503, "TP") // 2
	step(200, "AP") // a success resets the failure count
	step(408, "TP")
	step(408, "TP")
	step(408, "IP") // threshold 3
	step(408, "IP")
	step(200, "IP") // 1 success of 2
	step(408, "IP") // a failure restarts the success count
	step(200, "IP")
	step(200, "AP") // threshold 2
	// A disabled destination ignores keepalive results.
	d.mark(t, 1, u, flagDisabled)
	step(408, "DX")
	step(200, "DX")
}

func TestPingEvents(t *testing.T) {
	d := testDispatcher(t, map[string]any{"ds_probing_mode": 1})
	d.load(t, "1 sip:10.0.0.1 8\n")
	s, dd := d.tab.Load().find(1, "sip:10.0.0.1")
	up := func(st int, o origin) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		if ev := d.updateState(s, dd, st, o, rctx{}); ev != nil {
			return ev.name
		}
		return ""
	}
	if ev := up(flagTrying|flagProbing, fromPing); ev != "dispatcher:dst-down" {
		t.Errorf("threshold 1: failure gives %q, want dst-down", ev)
	}
	if ev := up(flagTrying|flagProbing, fromPing); ev != "" {
		t.Errorf("inactive stays inactive: %q", ev)
	}
	if ev := up(flagProbing, fromPing); ev != "dispatcher:dst-up" {
		t.Errorf("success gives %q, want dst-up", ev)
	}
	if ev := up(flagDisabled, fromScript); ev != "dispatcher:dst-down" {
		t.Errorf("disabled gives %q", ev)
	}
}

func TestProbingModes(t *testing.T) {
	for _, tc := range []struct {
		mode               int
		flags              int
		pinged             bool
		afterOK, afterFail string
	}{
		{probeFlagged, 8, true, "AX", "IX"},     // success clears P; failure (threshold 1) without P
		{probeFlagged, 0, false, "", ""},        // only flagged ones
		{probeAll, 0, true, "AP", "IP"},         // everything, P set
		{probeInactive, 8, false, "", ""},       // active: not pinged
		{probeInactive, 9, true, "AX", "IP"},    // inactive with P
		{probeOnlyFlagged, 8, true, "AP", "IP"}, // P kept
		{probeOnlyFlagged, 0, false, "", ""},
	} {
		d := testDispatcher(t, map[string]any{"ds_probing_mode": tc.mode})
		d.pinger = newPinger(d, time.Second)
		d.load(t, "1 sip:10.0.0.1 "+itoa(tc.flags)+"\n")
		_, dd := d.tab.Load().find(1, "sip:10.0.0.1")
		if got := d.pinger.shouldPing(dd); got != tc.pinged {
			t.Errorf("mode %d flags %d: pinged %v", tc.mode, tc.flags, got)
			continue
		}
		if !tc.pinged {
			continue
		}
		d.pingResult(dd.key(), 200, "OK", true, time.Millisecond)
		if got := d.letters(t, 1, dd.uri); got != tc.afterOK {
			t.Errorf("mode %d flags %d: after success %s, want %s", tc.mode, tc.flags, got, tc.afterOK)
		}
		d.load(t, "1 sip:10.0.0.1 "+itoa(tc.flags)+" 1\n") // priority changes: a new destination state
		d.mark(t, 1, "sip:10.0.0.1", uint32(tc.flags&stateBits))
		d.pingResult(dd.key(), 408, "", false, 0)
		if got := d.letters(t, 1, dd.uri); got != tc.afterFail {
			t.Errorf("mode %d flags %d: after failure %s, want %s", tc.mode, tc.flags, got, tc.afterFail)
		}
	}
}

func TestScriptMarks(t *testing.T) {
	d := testDispatcher(t, map[string]any{"ds_probing_threshold": 2, "ds_inactive_threshold": 5})
	d.load(t, "1 sip:10.0.0.1\n")
	s, dd := d.tab.Load().find(1, "sip:10.0.0.1")
	mark := func(state string, want string) {
		t.Helper()
		s.mu.Lock()
		d.updateState(s, dd, parseState(state), fromScript, rctx{})
		s.mu.Unlock()
		if got := d.letters(t, 1, dd.uri); got != want {
			t.Fatalf("mark %q: %s, want %s", state, got, want)
		}
	}
	mark("t", "TX")
	mark("tp", "IP") // the probing threshold applies to "t"
	mark("a", "AX")  // "a" brings it up at once, whatever ds_inactive_threshold
	mark("ip", "IP")
	mark("ap", "AP")
	mark("d", "DX")
	mark("a", "AX")
}

func TestLoadTracker(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLoadTracker(100*time.Second, 10*time.Second)
	l.now = func() time.Time { return now }
	a := &dest{setid: 1, attrs: attrs{duid: "a"}}
	b := &dest{setid: 1, attrs: attrs{duid: "b"}}
	a.load, b.load = l.counter(1, "a"), l.counter(1, "b")
	if !l.add("c1", a) || l.add("c1", b) || l.add("c2", &dest{setid: 1}) {
		t.Fatal("add: a new call takes a load once, a destination without duid none")
	}
	l.add("c2", a)
	l.replace("c2", b) // failover moves the load
	if a.calls() != 1 || b.calls() != 1 {
		t.Errorf("after replace: a=%d b=%d", a.calls(), b.calls())
	}
	// The counter is shared by set and duid: a reloaded destination keeps it.
	if l.counter(1, "a") != a.load {
		t.Error("counter not shared")
	}
	l.confirm("c1")
	now = now.Add(11 * time.Second)
	if n := l.expireOld(); n != 1 || b.calls() != 0 || a.calls() != 1 {
		t.Errorf("initexpire: %d expired, a=%d b=%d (c2 was never confirmed)", n, a.calls(), b.calls())
	}
	now = now.Add(100 * time.Second)
	if n := l.expireOld(); n != 1 || a.calls() != 0 {
		t.Errorf("expire: %d expired, a=%d", n, a.calls())
	}
	if l.remove("c1") {
		t.Error("expired call removed twice")
	}
}
