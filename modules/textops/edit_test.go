package textops_test

import (
	"strings"
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
)

func req(extra ...string) string {
	return kemitest.Request("INVITE", "sip:bob@127.0.0.1:{sport}", extra...)
}

func TestSubstHeaderWithPV(t *testing.T) {
	out, _ := forwarded(t, `KSR.hdr.append("X-R: " .. KSR.textops.subst([[/^(X-A: *)old(.*)$/\1new-$rm\2/]]) .. "\r\n")`,
		req("X-A: old-value", "X-B: old"))
	if v, n := header(out, "X-A"); v != "new-INVITE-value" || n != 1 {
		t.Fatalf("X-A %q (%d):\n%s", v, n, out)
	}
	if v, _ := header(out, "X-B"); v != "old" {
		t.Fatalf("X-B changed:\n%s", out)
	}
	if v, _ := header(out, "X-R"); v != "1" {
		t.Fatalf("subst result %q", v)
	}
}

func TestReplaceAllHeadersAndBody(t *testing.T) {
	out, _ := forwarded(t, `KSR.hdr.append("X-R: " .. KSR.textops.replace_all("secret", "XXXXXX") .. "\r\n")`,
		withBody(req("X-S: my secret", "X-T: SECRET too"), "text/plain", "a secret b secret"))
	if v, _ := header(out, "X-S"); v != "my XXXXXX" {
		t.Fatalf("X-S %q:\n%s", v, out)
	}
	if v, _ := header(out, "X-T"); v != "XXXXXX too" {
		t.Fatalf("X-T %q (case-insensitive expected):\n%s", v, out)
	}
	if b := bodyOf(t, out); b != "a XXXXXX b XXXXXX" {
		t.Fatalf("body %q", b)
	}
	if !strings.HasPrefix(out, "INVITE sip:bob@127.0.0.1:") {
		t.Fatalf("first line changed:\n%s", out)
	}
}

func TestInjectionRefused(t *testing.T) {
	out, h := forwarded(t, `
  local r = {}
  r[#r+1] = KSR.textops.replace("foo", "bar\r\nX-Evil: 1")
  r[#r+1] = KSR.textops.subst([[/foo/bar\r\nX-Evil: 2/]])
  r[#r+1] = KSR.textops.subst([[/foo/bar\nX-Evil: 3/]])
  r[#r+1] = KSR.textops.replace_all("foo", "bar\0")
  r[#r+1] = KSR.textops.search_append("foo", "\r\n\r\nbody")
  r[#r+1] = KSR.textops.subst_hf("X-F", "/foo/a\rb/", "a")
  KSR.pv.sets("$var(p)", "x\r\nX-Evil: 4")
  r[#r+1] = KSR.textops.subst([[/foo/$var(p)/]])
  r[#r+1] = KSR.textops.set_body("b", "text/plain\r\nX-Evil: 5")
  r[#r+1] = KSR.textops.replace_str("foo", "a\nb", "a")
  KSR.hdr.append("X-R: " .. table.concat(r, ",") .. "\r\n")`, req("X-F: foo"))
	if strings.Contains(out, "X-Evil") || strings.Contains(out, "bar") {
		t.Fatalf("injection got through:\n%s", out)
	}
	if v, _ := header(out, "X-R"); v != "-1,-1,-1,-1,-1,-1,-1,-1,-1" {
		t.Fatalf("results %q", v)
	}
	if v, _ := header(out, "X-F"); v != "foo" {
		t.Fatalf("X-F changed: %q", v)
	}
	if !h.LogContains("textops") {
		t.Fatalf("refusals not logged")
	}
}

func TestRemoveHeaders(t *testing.T) {
	out, _ := forwarded(t, `
  local r = {}
  r[#r+1] = KSR.textops.remove_hf("X-Gone")
  r[#r+1] = KSR.textops.remove_hf("X-None")
  r[#r+1] = KSR.textops.remove_hf_re("^P-")
  r[#r+1] = KSR.textops.remove_hf_exp("^X-Q", "^X-Qkeep")
  r[#r+1] = KSR.textops.remove_hf_idx("X-I", -1)
  r[#r+1] = KSR.textops.remove_hf_idx("X-I", 5)
  r[#r+1] = KSR.textops.remove_hf_match("X-M", "re", "^data")
  r[#r+1] = KSR.textops.remove_hf_match("X-M", "eq", "keep")
  r[#r+1] = KSR.textops.remove_hf_match("X-M", "xx", "keep")
  r[#r+1] = KSR.textops.remove_hf("X-Gone")
  KSR.hdr.append("X-R: " .. table.concat(r, ",") .. "\r\n")`,
		req("X-Gone: 1", "P-A: 1", "X-Gone: 2", "P-B: 2", "X-Qa: 1", "X-Qkeep: 1", "X-I: first", "X-I: last",
			"X-M: data1", "X-M: keep", "X-M: other"))
	if v, _ := header(out, "X-R"); v != "2,-1,2,1,1,-1,1,1,-1,-1" {
		t.Fatalf("results %q\n%s", v, out)
	}
	for _, gone := range []string{"X-Gone", "P-A", "P-B", "X-Qa"} {
		if _, n := header(out, gone); n != 0 {
			t.Errorf("%s not removed", gone)
		}
	}
	if v, n := header(out, "X-I"); v != "first" || n != 1 {
		t.Errorf("X-I %q %d", v, n)
	}
	if _, n := header(out, "X-Qkeep"); n != 1 {
		t.Errorf("X-Qkeep removed")
	}
	if !strings.Contains(out, "X-M: other\r\n") || strings.Contains(out, "X-M: data1") || strings.Contains(out, "X-M: keep") {
		t.Errorf("remove_hf_match:\n%s", out)
	}
}

func TestStackedEditsAndOrder(t *testing.T) {
	out, _ := forwarded(t, `
  local r = {}
  r[#r+1] = KSR.textops.subst_hf("X-V", "/v/w/g", "l")
  r[#r+1] = KSR.textops.replace("X-V: w2", "X-V: w3")
  r[#r+1] = KSR.textops.subst([[/w3/w4/]])
  r[#r+1] = KSR.textops.search_append("^X-V: v1", ";appended")
  r[#r+1] = KSR.textops.subst_hf("X-V", "/nomatch/x/", "a")
  r[#r+1] = KSR.textops.subst_hf("X-V", "/x/y/", "q")
  KSR.hdr.append("X-R: " .. table.concat(r, ",") .. "\r\n")`,
		req("X-V: v1", "X-Other: 1", "X-V: v2"))
	if v, _ := header(out, "X-R"); v != "1,1,1,1,-1,-1" {
		t.Fatalf("results %q\n%s", v, out)
	}
	i1, i2 := strings.Index(out, "X-V: v1;appended\r\n"), strings.Index(out, "X-V: w4\r\n")
	if i1 < 0 || i2 < 0 || i2 < i1 {
		t.Fatalf("X-V values or order wrong:\n%s", out)
	}
	if _, n := header(out, "X-V"); n != 2 {
		t.Fatalf("X-V count:\n%s", out)
	}
}

func TestMultiLineMatch(t *testing.T) {
	out, _ := forwarded(t, `
  local a = KSR.textops.replace("X-A: 1\r\nX-B: 2", "X-C: 3")
  local b = KSR.textops.replace("X-D: 4\r\n", "")
  local c = KSR.textops.replace("X-E: 5\r\n\r\nhel", "x")
  KSR.hdr.append("X-R: " .. a .. "," .. b .. "," .. c .. "\r\n")`,
		withBody(req("X-A: 1", "X-B: 2", "X-D: 4", "X-E: 5"), "text/plain", "hello"))
	if v, _ := header(out, "X-R"); v != "1,1,-1" {
		t.Fatalf("results %q\n%s", v, out)
	}
	for _, h := range []string{"X-A", "X-B", "X-D"} {
		if _, n := header(out, h); n != 0 {
			t.Errorf("%s still there:\n%s", h, out)
		}
	}
	if v, _ := header(out, "X-C"); v != "3" {
		t.Errorf("X-C %q", v)
	}
	if bodyOf(t, out) != "hello" {
		t.Errorf("body changed")
	}
}

func TestBodyEdits(t *testing.T) {
	sdp := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
	out, _ := forwarded(t, `
  local r = {}
  r[#r+1] = KSR.textops.replace_body_all("10\\.0\\.0\\.1", "192.0.2.1")
  r[#r+1] = KSR.textops.subst_body([[/^o=(.*) IN/o=$fU \1 IN/]])
  r[#r+1] = KSR.textops.search_append_body("^m=audio [0-9]+ RTP/AVP 0", " 8")
  r[#r+1] = KSR.textops.replace_body("nothere", "x")
  r[#r+1] = KSR.textops.replace_body_str("RTP/AVP", "RTP/SAVP", "a")
  r[#r+1] = KSR.textops.replace_body_str("x", "y", "z")
  KSR.hdr.append("X-R: " .. table.concat(r, ",") .. "\r\n")`,
		withBody(req(), "application/sdp", sdp))
	if v, _ := header(out, "X-R"); v != "1,1,1,-1,1,-1" {
		t.Fatalf("results %q\n%s", v, out)
	}
	want := "v=0\r\no=alice - 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/SAVP 0 8\r\n"
	if b := bodyOf(t, out); b != want {
		t.Fatalf("body %q", b)
	}
}

func TestSetBody(t *testing.T) {
	out, _ := forwarded(t, `KSR.hdr.append("X-R: " .. KSR.textops.set_body("hello world", "text/plain") .. "\r\n")`,
		withBody(req(), "application/sdp", "v=0\r\n"))
	if v, n := header(out, "Content-Type"); v != "text/plain" || n != 1 {
		t.Fatalf("Content-Type %q %d\n%s", v, n, out)
	}
	if b := bodyOf(t, out); b != "hello world" {
		t.Fatalf("body %q", b)
	}
	// No Content-Type in the request: one is added; a second set_body replaces the first.
	out, _ = forwarded(t, `
  KSR.textops.set_body("first", "text/plain")
  local r = KSR.textops.set_body_hex("68 69", "application/x-test")
  local e = KSR.textops.set_body("", "text/plain")
  KSR.hdr.append("X-R: " .. r .. "," .. e .. "\r\n")`, req())
	if v, n := header(out, "Content-Type"); v != "application/x-test" || n != 1 {
		t.Fatalf("Content-Type %q %d\n%s", v, n, out)
	}
	if b := bodyOf(t, out); b != "hi" {
		t.Fatalf("body %q", b)
	}
	if v, _ := header(out, "X-R"); v != "1,-1" {
		t.Fatalf("results %q", v)
	}
}

func TestBodyAtOnce(t *testing.T) {
	out, _ := forwarded(t, `
  if KSR.textops.has_body() > 0 and KSR.textops.replace_body_atonce("^.+$", "") > 0 then
    KSR.textops.remove_hf("Content-Type")
  end`, withBody(req(), "text/plain", "line1\r\nline2\r\n"))
	if b := bodyOf(t, out); b != "" {
		t.Fatalf("body %q", b)
	}
	if _, n := header(out, "Content-Type"); n != 0 {
		t.Fatalf("Content-Type kept:\n%s", out)
	}
}

func TestSubstURIAndUser(t *testing.T) {
	out, _ := forwarded(t, `
  local a = KSR.textops.subst_user([[/^([0-9]+)$/3463\1/]])
  local b = KSR.textops.subst_uri([[/^sip:([0-9]+)@[^;]*(.*)$/sip:\1@example.net\2;orig=yes/]])
  local c = KSR.textops.subst_uri([[/^sip:.*$/not a uri/]])
  local d = KSR.textops.subst_user("/3463/a@b/")
  KSR.hdr.append("X-R: " .. a .. "," .. b .. "," .. c .. "," .. d .. "\r\n")`,
		kemitest.Request("INVITE", "sip:12345@127.0.0.1:{sport};transport=udp"))
	if !strings.HasPrefix(out, "INVITE sip:346312345@example.net;transport=udp;orig=yes SIP/2.0\r\n") {
		t.Fatalf("forwarded:\n%s", out)
	}
	if v, _ := header(out, "X-R"); v != "1,1,-1,-1" {
		t.Fatalf("results %q", v)
	}
}

func TestSubstV(t *testing.T) {
	got := results(t, `
    KSR.textops.subst_v("alice@example.com", "/@.*$/@example.net/", "$var(r)"), KSR.pv.get("$var(r)"),
    KSR.textops.subst_v("abc", "/x/y/", "$var(s)"), KSR.textops.subst_v("abc", "/(/y/", "$var(s)"),
    KSR.textops.subst_v("a.b.c", "#\\.#-#g", "$var(t)"), KSR.pv.get("$var(t)"),
    KSR.textops.subst_v("ab", [[/(a)(b)/\2\1\$rm $rm/]], "$var(u)"), KSR.pv.get("$var(u)")`,
		kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	want := "1,alice@example.net,-1,-1,1,a-b-c,1,ba$rm OPTIONS"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSpanningMatchRefused(t *testing.T) {
	out, _ := forwarded(t, `KSR.hdr.append("X-R: " .. KSR.textops.replace("X-Z: 1\r\n\r\nab", "") .. "\r\n")`,
		withBody(req("X-Z: 1"), "text/plain", "abc"))
	if v, _ := header(out, "X-R"); v != "-1" {
		t.Fatalf("result %q", v)
	}
	if bodyOf(t, out) != "abc" {
		t.Fatalf("body changed")
	}
}

const multipart = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1\r\nContent-Type: application/isup\r\nContent-Disposition: signal\r\n\r\nISUPDATA\r\n--b1--\r\n"

func TestMultipart(t *testing.T) {
	mreq := withBody(req(), `multipart/mixed;boundary="b1"`, multipart)
	got := results(t, `
    KSR.textops.get_body_part("application/isup", "$var(p)"), KSR.pv.get("$var(p)"),
    KSR.textops.get_body_part_raw("application/sdp", "$var(r)"), KSR.pv.get("$var(r)") == "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n",
    KSR.textops.get_body_part("text/plain", "$var(x)"), KSR.textops.has_body_type("multipart/mixed")`, mreq)
	if got != "1,ISUPDATA,1,true,-1,1" {
		t.Fatalf("got %s", got)
	}
	out, _ := forwarded(t, `KSR.textops.filter_body("application/sdp")`, mreq)
	if b := bodyOf(t, out); b != "v=0\r\n" {
		t.Fatalf("filtered body %q", b)
	}
	out, _ = forwarded(t, `KSR.textops.remove_body_part("application/isup")`, mreq)
	if b := bodyOf(t, out); b != "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1--\r\n" {
		t.Fatalf("body %q", b)
	}
}

func TestAudioOnHold(t *testing.T) {
	cases := map[string]string{
		"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n":                        "1",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n":          "2",
		"v=0\r\na=inactive\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n":          "2",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n":          "-1",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 4000 RTP/AVP 0\r\na=sendonly\r\n":          "-1",
		"v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\na=recvonly\r\n":          "-1",
		"v=0\r\nm=video 1 RTP/AVP 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n": "1",
	}
	for sdp, want := range cases {
		if got := results(t, `KSR.textops.is_audio_on_hold()`, withBody(req(), "application/sdp", sdp)); got != want {
			t.Errorf("%q: got %s want %s", sdp, got, want)
		}
	}
}

func TestNotSupported(t *testing.T) {
	got := results(t, `KSR.textops.set_reply_body("x", "text/plain"), KSR.textops.append_body_part("x", "text/plain")`,
		kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	if got != "-1,-1" {
		t.Fatalf("got %s", got)
	}
}

func TestReadmeExample(t *testing.T) {
	out, _ := forwarded(t, `
  KSR.textops.remove_hf_exp("^P-", "^P-Keep-")
  KSR.textops.subst_hf("To", "/@internal\\.example>/@example.com>/", "a")
  KSR.textops.subst_user([[/^([0-9]+)$/+49\1/]])
  if KSR.textops.has_body_type("application/sdp") > 0 then
    KSR.textops.replace_body_all("^a=X-.*\r\n", "")
  end`,
		withBody(strings.Replace(kemitest.Request("INVITE", "sip:301234@127.0.0.1:{sport}", "P-A: 1", "P-Keep-B: 2"),
			"To: <sip:bob@example.com>", "To: <sip:bob@internal.example>;tag=x", 1),
			"application/sdp", "v=0\r\na=X-foo:1\r\na=rtpmap:0 PCMU/8000\r\na=X-bar\r\n"))
	if !strings.HasPrefix(out, "INVITE sip:+49301234@127.0.0.1:") {
		t.Fatalf("R-URI:\n%s", out)
	}
	if _, n := header(out, "P-A"); n != 0 {
		t.Fatalf("P-A kept:\n%s", out)
	}
	if v, _ := header(out, "P-Keep-B"); v != "2" {
		t.Fatalf("P-Keep-B:\n%s", out)
	}
	if v, n := header(out, "To"); n != 1 || v != "<sip:bob@example.com>;tag=x" {
		t.Fatalf("To %q:\n%s", v, out)
	}
	if b := bodyOf(t, out); b != "v=0\r\na=rtpmap:0 PCMU/8000\r\n" {
		t.Fatalf("body %q", b)
	}
}
