package registrar_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestLookupOrdersByQAndFillsBranches(t *testing.T) {
	n := startNode(t, lookupSteps, nil, nil)
	n.register(t, "kim", "k1", 1, []string{"<sip:kim@192.0.2.1>;q=0.1", "<sip:kim@192.0.2.2>;q=0.9", "<sip:kim@192.0.2.3>"},
		"X-BFlag: 6")
	rep := n.register(t, "kim", "k1", 2, nil)
	cs := strings.Split(header(rep, "Contact"), ", ")
	if len(cs) != 3 || !strings.HasPrefix(cs[0], "<sip:kim@192.0.2.2>;q=0.9;expires=") ||
		!strings.HasPrefix(cs[1], "<sip:kim@192.0.2.1>;q=0.1;expires=") || !strings.HasPrefix(cs[2], "<sip:kim@192.0.2.3>;expires=") {
		t.Errorf("contacts not by q: %q", cs)
	}
	// The highest q becomes the R-URI, the others the destination set in q
	// order (unspecified q sorts last, as in Kamailio); branch flags come back.
	n.expect(t, "INVITE", "sip:kim@example.com", "lookup", "1", "sip:kim@192.0.2.2", "nil",
		"sip:kim@192.0.2.1   100 64 | sip:kim@192.0.2.3   -1 64")
	n.expect(t, "INVITE", "sip:kim@example.com", "lookup_dset", "1", "sip:kim@example.com",
		"sip:kim@192.0.2.2   900 64 | sip:kim@192.0.2.1   100 64 | sip:kim@192.0.2.3   -1 64")
	// append_branches=0: only the R-URI.
	m := startNode(t, lookupSteps, map[string]any{"append_branches": 0}, nil)
	m.register(t, "kim", "k1", 1, []string{"<sip:kim@192.0.2.1>;q=0.1", "<sip:kim@192.0.2.2>;q=0.9"})
	m.expect(t, "INVITE", "sip:kim@example.com", "lookup", "1", "sip:kim@192.0.2.2", "nil", "")
	// Unknown user.
	m.expect(t, "INVITE", "sip:nobody@example.com", "lookup", "-1", "sip:nobody@example.com", "nil", "")
}

func TestPathAndReceived(t *testing.T) {
	n := startNode(t, lookupSteps, map[string]any{"use_path": 1, "path_mode": 1}, nil)
	rep := n.register(t, "lee", "l1", 1, []string{"<sip:lee@10.0.0.5:5060>"}, "Path: <sip:edge1.example.net;lr>",
		"Path: <sip:edge2.example.net;lr>", "Supported: path")
	if header(rep, "Path") != "<sip:edge1.example.net;lr>,<sip:edge2.example.net;lr>" {
		t.Errorf("path_mode 1 with Supported: path: Path %q", header(rep, "Path"))
	}
	n.register(t, "lee", "l2", 1, []string{"<sip:lee@10.0.0.6:5060>;q=0.5"}, "X-Received: sip:203.0.113.7:4321")
	n.register(t, "lee", "l3", 1, []string{"<sip:lee@10.0.0.7:5060>;q=0.1"})
	// The Path contact: $du is its first hop; the NATed one: its received address.
	n.expect(t, "INVITE", "sip:lee@example.com", "lookup", "1", "sip:lee@10.0.0.6:5060", "sip:203.0.113.7:4321",
		"sip:lee@10.0.0.7:5060   100 0 | sip:lee@10.0.0.5:5060 sip:edge1.example.net;lr <sip:edge1.example.net;lr>,<sip:edge2.example.net;lr> -1 0")
	rep = n.register(t, "lee", "l2", 2, nil)
	if !strings.Contains(header(rep, "Contact"), `<sip:lee@10.0.0.6:5060>;q=0.5;expires=3600;received="sip:203.0.113.7:4321"`) {
		t.Errorf("received not listed: %q", header(rep, "Contact"))
	}

	// path_mode 2 refuses a Path the client does not support.
	m := startNode(t, "", map[string]any{"use_path": 1}, nil)
	rep = m.register(t, "lee", "l1", 1, []string{"<sip:lee@10.0.0.5>"}, "Path: <sip:edge1.example.net;lr>")
	if code(rep) != 420 || header(rep, "Unsupported") != "path" {
		t.Errorf("path_mode 2 without Supported: path: %q", rep)
	}
	// path_mode 0 stores the Path without listing it.
	o := startNode(t, lookupSteps, map[string]any{"use_path": 1, "path_mode": 0}, nil)
	rep = o.register(t, "lee", "l1", 1, []string{"<sip:lee@10.0.0.5>"}, "Path: <sip:edge1.example.net;lr>")
	if code(rep) != 200 || header(rep, "Path") != "" {
		t.Errorf("path_mode 0: %q", rep)
	}
	o.expect(t, "INVITE", "sip:lee@example.com", "lookup", "1", "sip:lee@10.0.0.5", "sip:edge1.example.net;lr", "")
}

func TestMethodFiltering(t *testing.T) {
	steps := lookupSteps + `
function lookup_indialog() return KSR.registrar.lookup("location") end
`
	n := startNode(t, steps, map[string]any{"method_filtering": 1}, nil)
	n.register(t, "max", "m1", 1, []string{"<sip:max@192.0.2.1>"}, "Allow: INVITE, ACK, BYE, CANCEL")
	n.expect(t, "INVITE", "sip:max@example.com", "lookup", "1", "sip:max@192.0.2.1", "nil", "")
	n.expect(t, "MESSAGE", "sip:max@example.com", "lookup", "-2", "sip:max@example.com", "nil", "")
	// In-dialog requests (To tag) are not filtered.
	n.h.Send(`MESSAGE sip:max@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-indlg;rport
From: <sip:a@example.com>;tag=a1
To: <sip:max@example.com>;tag=b1
Call-ID: indlg-1
CSeq: 2 MESSAGE
Max-Forwards: 70
X-Step: lookup_indialog
Content-Length: 0

`)
	if rep := n.h.Recv(3 * time.Second); header(rep, "X-R") != "1" {
		t.Errorf("in-dialog MESSAGE filtered: %q", header(rep, "X-R"))
	}
	// A contact without Allow takes every method.
	n.register(t, "max", "m2", 1, []string{"<sip:max@192.0.2.2>"})
	n.expect(t, "MESSAGE", "sip:max@example.com", "lookup", "1", "sip:max@192.0.2.2", "nil", "")
	res, err := n.rpc(t, "ul.lookup", "location", "max")
	if err != nil {
		t.Fatal(err)
	}
	var methods []float64
	for _, c := range res.(map[string]any)["Contacts"].([]any) {
		methods = append(methods, c.(map[string]any)["Contact"].(map[string]any)["Methods"].(float64))
	}
	if fmt.Sprint(methods) != "[15 4.294967295e+09]" {
		t.Errorf("methods masks %v, want INVITE|CANCEL|ACK|BYE = 15 and all", methods)
	}
}

func TestInstanceRegIDAndGRUU(t *testing.T) {
	n := startNode(t, lookupSteps, nil, nil)
	inst := `+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"`
	rep := n.register(t, "nia", "n1", 1, []string{"<sip:nia@192.0.2.1:5060>;" + inst + ";reg-id=1"}, "Supported: gruu, path")
	ct := header(rep, "Contact")
	if !strings.Contains(ct, `;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`) ||
		!strings.Contains(ct, `;pub-gruu="sip:nia@example.com;gr=urn:uuid:00000000-0000-1000-8000-000A95A0E128"`) {
		t.Errorf("instance / pub-gruu: %q", ct)
	}
	// The same instance and reg-id from a new address replaces the binding
	// (RFC 5626), whatever the Call-ID.
	rep = n.register(t, "nia", "n2", 1, []string{"<sip:nia@198.51.100.9:6000>;" + inst + ";reg-id=1"})
	if ct := header(rep, "Contact"); strings.Count(ct, "<sip:") != 1 || !strings.HasPrefix(ct, "<sip:nia@198.51.100.9:6000>") {
		t.Errorf("flow not replaced: %q", ct)
	}
	// Another reg-id is another flow.
	n.register(t, "nia", "n2", 2, []string{"<sip:nia@198.51.100.9:6001>;" + inst + ";reg-id=2"})
	n.register(t, "nia", "n3", 1, []string{"<sip:nia@192.0.2.50>"})
	// A lookup of the public GRUU reaches only that instance's flows.
	n.expect(t, "INVITE", "sip:nia@example.com;gr=urn:uuid:00000000-0000-1000-8000-000A95A0E128", "lookup", "1",
		"sip:nia@198.51.100.9:6000", "nil", "sip:nia@198.51.100.9:6001   -1 0")
}

const fetchSteps = `
function fetch()
	local rc = KSR.registrar.reg_fetch_contacts("location", "sip:olga@example.com", "p")
	return rc, KSR.pv.get("$ulc(p=>count)"), KSR.pv.get("$ulc(p=>aor)"), KSR.pv.get("$ulc(p=>domain)"),
		KSR.pv.get("$ulc(p=>addr)"), KSR.pv.get("$(ulc(p=>addr)[1])"), KSR.pv.get("$ulc(p=>q)"),
		KSR.pv.get("$(ulc(p=>q)[1])"), KSR.pv.get("$ulc(p=>callid)"), KSR.pv.get("$ulc(p=>cseq)"),
		KSR.pv.get("$ulc(p=>methods)"), KSR.pv.get("$ulc(p=>user_agent)"), KSR.pv.get("$ulc(p=>received)"),
		KSR.pv.get("$ulc(p=>instance)"), KSR.pv.get("$ulc(p=>conid)"), KSR.pv.get("$(ulc(p=>addr)[5])"),
		KSR.registrar.ulc_rget("p", "count"), KSR.registrar.ulc_cget("p", "addr", 1),
		KSR.pv.get("$ulc(p=>expires)") - KSR.pv.get("$ulc(p=>modified)"),
		KSR.registrar.reg_free_contacts("p"), KSR.pv.get("$ulc(p=>count)"),
		KSR.registrar.reg_fetch_contacts("location", "sip:nobody@example.com", "q"), KSR.pv.get("$ulc(q=>count)")
end
function reg()
	return KSR.registrar.registered("location"), KSR.registrar.registered_uri("location", "sip:nobody@example.com")
end
function unreg_ruid()
	KSR.registrar.reg_fetch_contacts("location", "sip:olga@example.com", "p")
	local ruid = KSR.pv.get("$ulc(p=>ruid)")
	return KSR.registrar.unregister_ruid("location", "sip:olga@example.com", ruid),
		KSR.registrar.unregister_ruid("location", "sip:olga@example.com", ruid),
		KSR.registrar.reg_fetch_contacts("location", "sip:olga@example.com", "p"), KSR.pv.get("$ulc(p=>count)")
end
function unreg_all()
	return KSR.registrar.unregister("location", "sip:olga@example.com"), KSR.registrar.registered("location"),
		KSR.registrar.unregister("location", "sip:olga@example.com"), KSR.registrar.unregister("location", "")
end
function sockhdr() return KSR.registrar.add_sock_hdr("Sock-Info"), KSR.registrar.add_sock_hdr("bad name") end
function qover() return KSR.registrar.set_q_override("0.25"), KSR.registrar.set_q_override("7") end
`

func TestFetchContactsAndUnregister(t *testing.T) {
	n := startNode(t, fetchSteps, nil, nil)
	n.register(t, "olga", "o1", 7, []string{"<sip:olga@192.0.2.1>;q=0.7;expires=600", "<sip:olga@192.0.2.2>"}, "User-Agent: softphone")
	n.expect(t, "OPTIONS", "sip:olga@example.com", "fetch", "1", "2", "olga", "location", "sip:olga@192.0.2.1",
		"sip:olga@192.0.2.2", "700", "-1", "o1", "7", "-1", "softphone", "", "nil", "nil", "nil", "2", "sip:olga@192.0.2.2",
		"600", "1", "nil", "-1", "0")
	n.expect(t, "OPTIONS", "sip:olga@example.com", "reg", "1", "-1")
	n.expect(t, "OPTIONS", "sip:olga@example.com", "unreg_ruid", "1", "-3", "1", "1")
	n.expect(t, "OPTIONS", "sip:olga@example.com", "unreg_all", "1", "-1", "1", "-1")
	n.expect(t, "OPTIONS", "sip:olga@example.com", "sockhdr", "1", "-1")
	n.expect(t, "OPTIONS", "sip:olga@example.com", "qover", "1", "-1")
	// set_q_override applies to the contacts the next save stores.
	rep := n.register(t, "olga", "o2", 1, []string{"<sip:olga@192.0.2.3>;q=0.9"}, "X-QOverride: 0.25")
	if !strings.Contains(header(rep, "Contact"), "<sip:olga@192.0.2.3>;q=0.25;") {
		t.Errorf("q override: %q", header(rep, "Contact"))
	}
}

// udpPeer is a UDP socket playing a registered phone or an edge proxy.
func udpPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readSIP(t *testing.T, c *net.UDPConn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("nothing received on %s: %v", c.LocalAddr(), err)
	}
	return string(buf[:n])
}

const forkSteps = `
function fork()
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then return rc end
	return rc, KSR.tm.t_relay()
end
`

// TestForkThroughPath runs lookup then t_relay: tm forks to every contact
// at once, and the contact registered through an edge proxy gets the
// request via that proxy with its Path as Route.
func TestForkThroughPath(t *testing.T) {
	n := startNode(t, forkSteps, map[string]any{"use_path": 1, "path_mode": 0}, nil)
	phone1, phone2, edge := udpPeer(t), udpPeer(t), udpPeer(t)
	p1 := phone1.LocalAddr().(*net.UDPAddr).Port
	p2 := phone2.LocalAddr().(*net.UDPAddr).Port
	pe := edge.LocalAddr().(*net.UDPAddr).Port
	// Saved in a transaction: tm sends the 200 OK, with the bindings.
	rep := n.register(t, "pat", "p1", 1, []string{fmt.Sprintf("<sip:pat@127.0.0.1:%d>", p1)}, "X-Stateful: 1")
	if code(rep) != 200 || !strings.HasPrefix(header(rep, "Contact"), fmt.Sprintf("<sip:pat@127.0.0.1:%d>;expires=", p1)) ||
		!strings.Contains(header(rep, "To"), "tag=") {
		t.Fatalf("stateful 200 OK: %q", rep)
	}
	n.register(t, "pat", "p2", 1, []string{fmt.Sprintf("<sip:pat@10.9.9.9:%d>", p2)},
		fmt.Sprintf("Path: <sip:127.0.0.1:%d;lr>", pe))
	n.h.Send(`INVITE sip:pat@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-fork1;rport
From: <sip:caller@example.com>;tag=c1
To: <sip:pat@example.com>
Call-ID: fork-1
CSeq: 1 INVITE
Max-Forwards: 70
X-Step: fork
Content-Length: 0

`)
	got1 := readSIP(t, phone1)
	got2 := readSIP(t, edge)
	if !strings.HasPrefix(got1, fmt.Sprintf("INVITE sip:pat@127.0.0.1:%d SIP/2.0", p1)) || header(got1, "Route") != "" {
		t.Errorf("direct branch:\n%s", got1)
	}
	if !strings.HasPrefix(got2, fmt.Sprintf("INVITE sip:pat@10.9.9.9:%d SIP/2.0", p2)) ||
		header(got2, "Route") != fmt.Sprintf("<sip:127.0.0.1:%d;lr>", pe) {
		t.Errorf("branch through the edge proxy:\n%s", got2)
	}
}

func TestLookupBranches(t *testing.T) {
	steps := lookupSteps + `
function branches()
	KSR.corex.append_branch_uri("sip:uma@example.com")
	KSR.corex.append_branch_uri("sip:nobody@example.com")
	local rc = KSR.registrar.lookup_branches("location")
	return rc, KSR.pv.get("$ru"), KSR.regtest.branches()
end
`
	n := startNode(t, steps, nil, nil)
	n.register(t, "tom", "t1", 1, []string{"<sip:tom@192.0.2.1>"})
	n.register(t, "uma", "u1", 1, []string{"<sip:uma@192.0.2.7>", "<sip:uma@192.0.2.8>"})
	n.expect(t, "INVITE", "sip:tom@example.com", "branches", "1", "sip:tom@192.0.2.1",
		"sip:uma@192.0.2.7   -1 0 | sip:uma@192.0.2.8   -1 0 | sip:nobody@example.com   -1 0")
}

func TestUseDomainAndRealmPrefix(t *testing.T) {
	n := startNode(t, lookupSteps, map[string]any{"realm_prefix": "sip."}, map[string]any{"use_domain": 1})
	rep := n.register(t, "vic", "v1", 1, []string{"<sip:vic@192.0.2.1>"})
	if code(rep) != 200 {
		t.Fatal(rep)
	}
	// The REGISTER was To sip:vic@example.com: the AoR is vic@example.com.
	n.expect(t, "INVITE", "sip:vic@sip.example.com", "lookup", "1", "sip:vic@192.0.2.1", "nil", "")
	n.expect(t, "INVITE", "sip:VIC@Example.COM", "lookup", "1", "sip:vic@192.0.2.1", "nil", "")
	n.expect(t, "INVITE", "sip:vic@example.org", "lookup", "-1", "sip:vic@example.org", "nil", "")
	res, err := n.rpc(t, "ul.dump", "brief")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(res), "AoR:vic@example.com") {
		t.Errorf("ul.dump: %v", res)
	}
}
