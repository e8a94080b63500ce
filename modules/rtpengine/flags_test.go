package rtpengine

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFlagsKamailioExample(t *testing.T) {
	p, err := parseFlags("trust-address replace-origin replace-session-connection ICE=remove RTP/AVP direction=pub direction=priv codec-strip=PCMA codec-strip=G729 codec-mask=all codec-transcode=PCMU rtcp-mux-demux SDES-off TOS=184 address-family=IP6 media-address=2001:db8::1 label=caller via-branch=auto to-tag")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replace":            []any{"origin", "session-connection"},
		"ICE":                "remove",
		"transport protocol": "RTP/AVP",
		"direction":          []any{"pub", "priv"},
		"codec":              map[string]any{"strip": []any{"PCMA", "G729"}, "mask": []any{"all"}, "transcode": []any{"PCMU"}},
		"rtcp-mux":           []any{"demux"},
		"SDES":               []any{"off"},
		"TOS":                int64(184),
		"address family":     "IP6",
		"media address":      "2001:db8::1",
		"label":              "caller",
	}
	if !reflect.DeepEqual(p.dict, want) {
		t.Errorf("dict:\n got  %#v\n want %#v", p.dict, want)
	}
	if !reflect.DeepEqual(p.list, []any{"trust-address"}) {
		t.Errorf("flags list %#v", p.list)
	}
	if p.viaBranch != "auto" || !p.forceToTag {
		t.Errorf("via-branch %q to-tag %v", p.viaBranch, p.forceToTag)
	}
}

func TestParseFlagsTransportBitsAndDirections(t *testing.T) {
	for flags, want := range map[string]string{"RTP AVP": "RTP/AVP", "SRTP AVPF": "RTP/SAVPF", "SRTP": "RTP/SAVP", "AVPF": "RTP/AVPF",
		"UDP/TLS/RTP/SAVPF": "UDP/TLS/RTP/SAVPF"} {
		p, err := parseFlags(flags)
		if err != nil || p.dict["transport protocol"] != want {
			t.Errorf("%q: %v %v, want %s", flags, p, err, want)
		}
	}
	p, _ := parseFlags("internal external")
	if !reflect.DeepEqual(p.dict["direction"], []any{"internal", "external"}) {
		t.Errorf("internal external: %#v", p.dict["direction"])
	}
	p, _ = parseFlags("force repacketize=20 call-id=other from-tag=ft to-tag=tt force-answer delete-delay=0 record-call=on directional")
	if p.callID != "other" || p.fromTag != "ft" || p.toTag != "tt" || !p.forceToTag || !p.forceAnswer {
		t.Errorf("overrides: %+v", p)
	}
	if p.dict["delete delay"] != int64(0) || p.dict["record call"] != "on" || !reflect.DeepEqual(p.list, []any{"directional"}) {
		t.Errorf("dict %#v list %#v", p.dict, p.list)
	}
	if _, ok := p.dict["repacketize"]; ok {
		t.Error("repacketize sent to rtpengine")
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, f := range []string{"direction=a direction=b direction=c", "TOS=300", "TOS=x", "address-family=IP5",
		"media-address=nope", "via-branch=3", "ICE", "=x", "ICE=", "codec-strip", "codec-=x", "RTP SRTP", "AVP AVPF",
		"call-id", "delete-delay=soon", "T.38", "flag\x01"} {
		if _, err := parseFlags(f); err == nil {
			t.Errorf("parseFlags(%q) accepted", f)
		}
	}
	if p, err := parseFlags(""); err != nil || len(p.dict) != 0 || len(p.list) != 0 {
		t.Errorf("empty flags: %+v %v", p, err)
	}
}

// FuzzFlags: parsing never panics, and what it accepts bencodes.
func FuzzFlags(f *testing.F) {
	for _, s := range []string{"trust-address replace-origin replace-session-connection ICE=remove RTP/AVP",
		"direction=pub direction=priv codec-strip=PCMA", "via-branch=auto-next to-tag=x", "TOS=-1 SRTP AVPF", "a=b=c ==="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseFlags(s)
		if err != nil {
			return
		}
		d := map[string]any{"flags": p.list}
		for k, v := range p.dict {
			d[k] = v
		}
		if _, err := encode(nil, d); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if len(p.dict) > len(strings.Fields(s))+3 {
			t.Fatalf("%q: more keys than items", s)
		}
	})
}
