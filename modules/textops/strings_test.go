package textops_test

import (
	"testing"

	"github.com/luasbc/luasbc/kemi/kemitest"
)

func TestStringHelpers(t *testing.T) {
	got := results(t, `
    KSR.textops.in_list("fi", "dk, fi,no", ","), KSR.textops.in_list("f", "dk,fi", ","), KSR.textops.in_list("fi", "fi", ",,"),
    KSR.textops.in_list_prefix("final", "dk,fi,no", ","), KSR.textops.in_list_prefix("x", "dk,fi", ","),
    KSR.textops.cmp_str("abc", "abc"), KSR.textops.cmp_str("abd", "abc"), KSR.textops.cmp_str("abc", "abd"),
    KSR.textops.cmp_istr("ABC", "abc"), KSR.textops.cmp_str("ABC", "abc"),
    KSR.textops.starts_with("+358123", "+358"), KSR.textops.starts_with("358", "+358"),
    KSR.textops.ends_with("12348800", "8800"), KSR.textops.ends_with("a", "ab"),
    KSR.textops.str_find("Alice", "lic"), KSR.textops.str_find("Alice", "LIC"), KSR.textops.str_ifind("Alice", "LIC"),
    KSR.textops.str_any_in("a;b", ";',:"), KSR.textops.str_any_in("ab", ";,"),
    KSR.textops.str_all_in("a.b;c-d", ".;-"), KSR.textops.str_all_in("a.b", ".;"),
    KSR.textops.search_str("sip:a@b;transport=TCP", ";transport=tcp"), KSR.textops.search_str("abc", "^b"),
    KSR.textops.search_str("abc", "(")`,
		kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	want := "1,-1,-1,1,-1,1,-1,-2,1,-2,1,-1,1,-1,1,-1,1,1,-1,1,-1,1,-1,-1"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRegexSubstring(t *testing.T) {
	got := results(t, `
    KSR.textops.regex_substring("___ abc123def ___ ghi456 ___", "([a-z]*)([0-9]+)([a-z]*)", 1, 3, "$var(a)"), KSR.pv.get("$var(a)"),
    KSR.textops.regex_substring("___ abc123def ___", "([a-z]*)([0-9]+)([a-z]*)", 0, 3, "$var(b)"), KSR.pv.get("$var(b)"),
    KSR.textops.regex_substring("ABC", "[a-z]+", 0, 1, "$var(c)"),
    KSR.textops.regex_substring("abc", "(a)", 5, 1, "$var(c)")`,
		kemitest.Request("OPTIONS", "sip:127.0.0.1:{sport}"))
	want := "1,abc,1,abc123def,-1,-1"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSearchAndPresence(t *testing.T) {
	req := withBody(kemitest.Request("INVITE", "sip:bob@127.0.0.1:{sport}",
		"P-Asserted-Identity: <sip:+123@x>", "X-Info: data1", "X-Info: other", "Privacy: id;header"), "application/sdp", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n")
	got := results(t, `
    KSR.textops.search("^INVITE sip:bob"), KSR.textops.search("x-info: OTHER"), KSR.textops.search("nothere"),
    KSR.textops.search_body("o=- 1 1"), KSR.textops.search_body("INVITE"),
    KSR.textops.search_hf("X-Info", "^data", "f"), KSR.textops.search_hf("X-Info", "^data", "l"),
    KSR.textops.search_hf("X-Info", "^oth", "a"), KSR.textops.search_hf("X-Info", "x", "z"),
    KSR.textops.is_present_hf("x-info"), KSR.textops.is_present_hf("t"), KSR.textops.is_present_hf("X-None"),
    KSR.textops.is_present_hf_re("^P-"), KSR.textops.is_present_hf_re("^Q-"),
    KSR.textops.has_body(), KSR.textops.has_body_type("application/sdp"), KSR.textops.has_body_type("text/plain"),
    KSR.textops.is_privacy("id"), KSR.textops.is_privacy("HEADER"), KSR.textops.is_privacy("user")`, req)
	want := "1,1,-1,1,-1,1,-1,1,-1,1,1,-1,1,-1,1,1,-1,1,1,-1"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
