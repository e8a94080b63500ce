package siputils_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/luasbc/luasbc/kemi/kemitest"
	_ "github.com/luasbc/luasbc/modules/siputils"
	_ "github.com/luasbc/luasbc/modules/sl"
)

var mods = map[string]map[string]any{"sl": nil, "siputils": nil}

// run starts a server whose request route evaluates the Lua expression list
// and returns the results joined by commas in an X-R reply header.
func run(t *testing.T, exprs string, req string) string {
	t.Helper()
	h := kemitest.New(t, `
function ksr_request_route()
  local r = {`+exprs+`}
  for i = 1, #r do r[i] = tostring(r[i]) end
  KSR.hdr.append_to_reply("X-R: " .. table.concat(r, ",") .. "\r\n")
  KSR.sl.sl_send_reply(200, "OK")
end`, kemitest.Options{Modules: mods})
	rep := h.Exchange(req)
	i := strings.Index(rep, "X-R: ")
	if i < 0 {
		t.Fatalf("no result header in %q", rep)
	}
	return rep[i+5 : i+strings.Index(rep[i:], "\r\n")]
}

func TestChecks(t *testing.T) {
	date := time.Now().UTC().Format(http.TimeFormat)
	got := run(t, `
    KSR.siputils.has_totag(), KSR.siputils.is_request(), KSR.siputils.is_reply(),
    KSR.siputils.is_sip(), KSR.siputils.is_http(), KSR.siputils.is_first_hop(), KSR.siputils.is_first_hop_mode(1),
    KSR.siputils.is_uri("sip:a@b.c;x=1"), KSR.siputils.is_uri("tel:+123"), KSR.siputils.is_uri("nonsense"),
    KSR.siputils.is_tel_number("+4930123"), KSR.siputils.is_tel_number("+0123"), KSR.siputils.is_tel_number(""),
    KSR.siputils.is_numeric("0123"), KSR.siputils.is_numeric("12a"),
    KSR.siputils.is_alphanum("abC9"), KSR.siputils.is_alphanum("a-b"), KSR.siputils.is_alphanumex("a-b.c", "-."),
    KSR.siputils.hdr_date_check(60), KSR.siputils.sip_parse_headers(),
    KSR.siputils.is_user("alice"), KSR.siputils.is_user("bob")`,
		kemitest.Request("INVITE", "sip:bob@127.0.0.1:{sport}", "Date: "+date,
			`Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", response="r"`))
	want := "-1,1,-1,1,-1,1,1,1,1,-1,1,-2,-2,1,-2,1,-3,1,1,1,1,-1"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestChecksInDialog(t *testing.T) {
	req := kemitest.Request("BYE", "sip:bob@127.0.0.1:{sport}", "Date: Sat, 01 Jan 2000 00:00:00 GMT")
	req = strings.Replace(req, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=abc", 1)
	req = strings.Replace(req, "From: ", "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKup\nFrom: ", 1)
	got := run(t, `KSR.siputils.has_totag(), KSR.siputils.is_first_hop(), KSR.siputils.hdr_date_check(60)`, req)
	if got != "1,-1,-1" {
		t.Fatalf("got %s", got)
	}
}

func TestCompare(t *testing.T) {
	got := run(t, `
    KSR.siputils.cmp_uri("sip:alice@EXAMPLE.com;transport=udp", "SIP:alice@example.com;Transport=UDP"),
    KSR.siputils.cmp_uri("sip:alice@example.com", "sip:Alice@example.com"),
    KSR.siputils.cmp_uri("sip:alice@example.com", "sip:alice@example.com:5060"),
    KSR.siputils.cmp_uri("sip:alice@example.com;transport=tcp", "sip:alice@example.com"),
    KSR.siputils.cmp_uri("sip:alice@example.com;foo=1", "sip:alice@example.com"),
    KSR.siputils.cmp_uri("sip:a%6Cice@example.com", "sip:alice@example.com"),
    KSR.siputils.cmp_uri("", "sip:alice@example.com"),
    KSR.siputils.cmp_aor("alice@Example.com", "sip:alice@example.com:5060;transport=tcp"),
    KSR.siputils.cmp_aor("sip:alice@example.com", "sip:bob@example.com"),
    KSR.siputils.cmp_hdr_name("f", "FROM"), KSR.siputils.cmp_hdr_name("X-A", "x-a"),
    KSR.siputils.cmp_hdr_name("To", "From"), KSR.siputils.cmp_hdr_name("", "From")`,
		kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	want := "1,-1,-1,-1,1,1,-2,1,-1,1,1,-1,-2"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestURIParams(t *testing.T) {
	got := run(t, `
    KSR.siputils.uri_param("lr"), KSR.siputils.uri_param("user"), KSR.siputils.uri_param("LR"),
    KSR.siputils.uri_param_value("user", "phone"), KSR.siputils.uri_param_value("user", "ip"),
    KSR.siputils.uri_param_any("USER"), KSR.siputils.uri_param_any("nope"),
    KSR.siputils.is_gruu(),
    KSR.siputils.add_uri_param("nat=yes"), KSR.siputils.uri_param_rm("USER"), KSR.siputils.uri_param_rm("nope"),
    KSR.siputils.add_uri_param("bad param"),
    KSR.pv.get("$ru"), KSR.siputils.add_uri_param("gr"), KSR.siputils.is_gruu()`,
		kemitest.Request("INVITE", "sip:+123;npdi@127.0.0.1:{sport};lr;user=phone?Subject=x"))
	want := "1,-1,-1,1,-1,1,-1,-1,1,1,1,-1,sip:+123;npdi@127.0.0.1:"
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ";lr;nat=yes?Subject=x,1,2") {
		t.Fatalf("got %s", got)
	}
}

func TestOptionsReply(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route()
  if KSR.siputils.options_reply() < 0 then
    KSR.sl.sl_send_reply(404, "Not Here")
  end
end`, kemitest.Options{Modules: map[string]map[string]any{"sl": nil,
		"siputils": {"options_accept": "application/sdp", "options_support": "path"}}})
	r := h.Exchange(kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	for _, w := range []string{"SIP/2.0 200 OK\r\n", "\r\nAllow: INVITE, ", "\r\nAccept: application/sdp\r\n",
		"\r\nAccept-Encoding: \r\n", "\r\nAccept-Language: en\r\n", "\r\nSupported: path\r\n"} {
		if !strings.Contains(r, w) {
			t.Errorf("reply lacks %q: %q", w, r)
		}
	}
	for _, req := range []string{
		kemitest.Request("OPTIONS", "sip:bob@127.0.0.1:{sport}"),
		kemitest.Request("OPTIONS", "sip:192.0.2.55"),
		kemitest.Request("INVITE", "sip:127.0.0.1:{sport}"),
	} {
		if r := h.Exchange(req); kemitest.StatusCode(r) != 404 {
			t.Errorf("want 404 for %q, got %q", req[:40], r)
		}
	}
}

// forwardHarness runs a script that ends with a forward to a local UDP
// socket and returns what arrives there.
func forward(t *testing.T, body string, req string) string {
	t.Helper()
	nh, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	port := nh.LocalAddr().(*net.UDPAddr).Port
	h := kemitest.New(t, `
function ksr_request_route()
`+body+`
  KSR.setdsturi("sip:127.0.0.1:`+itoa(port)+`")
  KSR.forward()
end`, kemitest.Options{Modules: mods})
	h.Send(req)
	_ = nh.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := nh.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("nothing forwarded: %v (logs %v)", err, h.Logs.All())
	}
	return string(buf[:n])
}

func itoa(n int) string {
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

func TestContactParamEncodeDecode(t *testing.T) {
	out := forward(t, `KSR.siputils.contact_param_encode("ksu", "sip:203.0.113.1:5060")`,
		kemitest.Request("REGISTER", "sip:127.0.0.1:{sport}",
			`Contact: sip:alice@10.1.1.2, "A" <sip:alice@10.1.1.1:5062;transport=tcp>;expires=60`))
	want := `Contact: <sip:203.0.113.1:5060;ksu=c2lwOmFsaWNlQDEwLjEuMS4y>, "A" <sip:203.0.113.1:5060;ksu=c2lwOmFsaWNlQDEwLjEuMS4xOjUwNjI7dHJhbnNwb3J0PXRjcA>;expires=60` + "\r\n"
	if !strings.Contains(out, want) || strings.Count(out, "Contact:") != 1 {
		t.Fatalf("forwarded:\n%s", out)
	}
	// decode restores the original URIs; rm and a second rewrite stack on it.
	out = forward(t, `
  local a = KSR.siputils.contact_param_check("ksu")
  local b = KSR.siputils.contact_param_decode("ksu")
  local c = KSR.siputils.contact_param_check("ksu")
  KSR.hdr.append("X-R: " .. a .. "," .. b .. "," .. c .. "\r\n")`,
		kemitest.Request("INVITE", "sip:127.0.0.1:{sport}",
			"Contact: <sip:203.0.113.1:5060;ksu=c2lwOmFsaWNlQDEwLjEuMS4xOjUwNjI7dHJhbnNwb3J0PXRjcA>;expires=60"))
	if !strings.Contains(out, "Contact: <sip:alice@10.1.1.1:5062;transport=tcp>;expires=60\r\n") ||
		!strings.Contains(out, "X-R: 1,1,1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
	out = forward(t, `KSR.siputils.contact_param_rm("ob"); KSR.siputils.contact_param_rm("x")`,
		kemitest.Request("INVITE", "sip:127.0.0.1:{sport}", "m: <sip:a@10.0.0.1;ob;x=1;y>"))
	if !strings.Contains(out, "m: <sip:a@10.0.0.1;y>\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
}

func TestContactParamDecodeRURIAndInjection(t *testing.T) {
	out := forward(t, `
  local r = KSR.siputils.contact_param_decode_ruri("ksu")
  KSR.hdr.append("X-R: " .. r .. "\r\n")`,
		kemitest.Request("INVITE", "sip:203.0.113.1;ksu=c2lwOmFsaWNlQDEyNy4wLjAuMTo1MDYy"))
	if !strings.HasPrefix(out, "INVITE sip:alice@127.0.0.1:5062 SIP/2.0\r\n") || !strings.Contains(out, "X-R: 1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
	// "sip:a@b\r\nX-Evil: 1" encoded: decoding must refuse it.
	out = forward(t, `
  local r = KSR.siputils.contact_param_decode("ksu")
  KSR.hdr.append("X-R: " .. r .. "\r\n")`,
		kemitest.Request("INVITE", "sip:127.0.0.1:{sport}", "Contact: <sip:x;ksu=c2lwOmFAYg0KWC1FdmlsOiAx>"))
	if strings.Contains(out, "X-Evil") || !strings.Contains(out, "X-R: -1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
}

func TestEncodeContact(t *testing.T) {
	out := forward(t, `KSR.siputils.encode_contact("enc", "198.51.100.7")`,
		kemitest.Request("REGISTER", "sip:127.0.0.1:{sport}", "Contact: <sip:bob:pw@10.0.0.5:5070;transport=tcp;foo>;q=0.5"))
	if !strings.Contains(out, "Contact: <sip:enc*bob*pw*10.0.0.5*5070*tcp@198.51.100.7>;q=0.5\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
	out = forward(t, `
  local r = KSR.siputils.decode_contact()
  local h = KSR.siputils.decode_contact_header()
  KSR.hdr.append("X-R: " .. r .. "," .. h .. "\r\n")`,
		kemitest.Request("INVITE", "sip:enc*bob**10.0.0.5*5070*tcp@127.0.0.1", "Contact: <sip:enc**pw*10.0.0.6**@198.51.100.7>"))
	if !strings.HasPrefix(out, "INVITE sip:bob@10.0.0.5:5070;transport=tcp SIP/2.0\r\n") ||
		!strings.Contains(out, "Contact: <sip:10.0.0.6>\r\n") || !strings.Contains(out, "X-R: 1,1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
}

func TestFirstHopReply(t *testing.T) {
	h := kemitest.New(t, `
function ksr_request_route() end
function ksr_reply_route()
  KSR.info("FH " .. KSR.pv.get("$hdr(X-Case)") .. " " .. KSR.siputils.is_first_hop() .. " " ..
    KSR.siputils.is_first_hop_mode(1) .. " " .. KSR.siputils.is_request() .. KSR.siputils.is_reply())
  KSR.x.drop()
end`, kemitest.Options{Modules: mods})
	reply := func(kase, rr string) {
		h.Send("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:{sport};branch=z9hG4bKa\nVia: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bKb\n" +
			"From: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: fh-" + kase + "\nCSeq: 1 INVITE\n" + rr +
			"X-Case: " + kase + "\nContent-Length: 0\n\n")
	}
	reply("mine", "Record-Route: <sip:127.0.0.1:{sport};lr>\n")
	reply("loop", "Record-Route: <sip:127.0.0.1:{cport};lr>\n")
	reply("other", "Record-Route: <sip:192.0.2.1;lr>\n")
	reply("none", "")
	for _, w := range []string{"FH mine 1 1 -11", "FH loop -1 -1 -11", "FH other -1 -1 -11", "FH none 1 1 -11"} {
		deadline := time.Now().Add(2 * time.Second)
		for !h.LogContains(w) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !h.LogContains(w) {
			t.Errorf("no log %q", w)
		}
	}
}

func TestContactParamDecodeStructureInjection(t *testing.T) {
	// "sip:a@b>;expires=0, <sip:evil@203.0.113.66" encoded: decoding it into
	// the <> of the Contact would add a second contact; it is refused and the
	// header left as received.
	contact := "Contact: <sip:x;ksu=c2lwOmFAYj47ZXhwaXJlcz0wLCA8c2lwOmV2aWxAMjAzLjAuMTEzLjY2>"
	out := forward(t, `
  local r = KSR.siputils.contact_param_decode("ksu")
  KSR.hdr.append("X-R: " .. r .. "\r\n")`,
		kemitest.Request("INVITE", "sip:127.0.0.1:{sport}", contact))
	if strings.Contains(out, "evil") || !strings.Contains(out, contact+"\r\n") || !strings.Contains(out, "X-R: -1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
	// The same value in the R-URI is refused too.
	out = forward(t, `
  local r = KSR.siputils.contact_param_decode_ruri("ksu")
  KSR.hdr.append("X-R: " .. r .. "\r\n")`,
		kemitest.Request("INVITE", "sip:203.0.113.1;ksu=c2lwOmFAYj47ZXhwaXJlcz0wLCA8c2lwOmV2aWxAMjAzLjAuMTEzLjY2"))
	if !strings.HasPrefix(out, "INVITE sip:203.0.113.1;ksu=") || !strings.Contains(out, "X-R: -1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
}

func TestEncodeContactIPv6(t *testing.T) {
	out := forward(t, `KSR.hdr.append("X-R: " .. KSR.siputils.encode_contact("enc", "198.51.100.7") .. "," ..
    KSR.siputils.encode_contact("en:c", "198.51.100.7") .. "\r\n")`,
		kemitest.Request("REGISTER", "sip:127.0.0.1:{sport}", "Contact: <sip:bob@[2001:db8::5]:5070;transport=tcp>"))
	if !strings.Contains(out, "Contact: <sip:enc*bob**%5B2001%3Adb8%3A%3A5%5D*5070*tcp@198.51.100.7>\r\n") ||
		!strings.Contains(out, "X-R: 1,-1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
	out = forward(t, `KSR.hdr.append("X-R: " .. KSR.siputils.decode_contact() .. "\r\n")`,
		kemitest.Request("INVITE", "sip:enc*bob**%5B2001%3Adb8%3A%3A5%5D*5070*tcp@127.0.0.1"))
	if !strings.HasPrefix(out, "INVITE sip:bob@[2001:db8::5]:5070;transport=tcp SIP/2.0\r\n") || !strings.Contains(out, "X-R: 1\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
}
