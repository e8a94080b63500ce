package rtpengine

import (
	"strings"
	"testing"
)

const goodSDP = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"

func TestCheckSDP(t *testing.T) {
	if err := checkSDP(goodSDP); err != nil {
		t.Fatal(err)
	}
	// c= per media instead of session-level; LF line ends.
	media := "v=0\no=- 1 1 IN IP6 ::1\ns=x\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP6 ::1\nm=video 0 RTP/AVP 31\nc=IN IP6 ::1\n"
	if err := checkSDP(media); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"empty":           "",
		"no v=0":          strings.TrimPrefix(goodSDP, "v=0\r\n"),
		"junk":            "hello world",
		"no m=":           "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n",
		"bad port":        strings.Replace(goodSDP, "49170", "99999", 1),
		"no c=":           strings.Replace(goodSDP, "c=IN IP4 192.0.2.10\r\n", "", 1),
		"bad c=":          strings.Replace(goodSDP, "c=IN IP4 192.0.2.10", "c=IN IPX 1", 1),
		"short o=":        strings.Replace(goodSDP, "o=alice 2890844526 2890844526 IN IP4 192.0.2.10", "o=x", 1),
		"not type=value":  goodSDP + "garbage\r\n",
		"control char":    goodSDP + "a=x\x00y\r\n",
		"media without c": "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\nm=audio 2 RTP/AVP 0\r\n",
		"too large":       goodSDP + strings.Repeat("a=x\r\n", maxSDP/5),
	}
	for name, s := range bad {
		if err := checkSDP(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzSDP: the check never panics on any body.
func FuzzSDP(f *testing.F) {
	f.Add(goodSDP)
	f.Add("v=0\no=- 1 1 IN IP6 ::1\ns=x\nm=audio 4000/2 RTP/AVP 0\nc=IN IP6 ::1\n")
	f.Add("v=0\r\nm=\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		if checkSDP(s) == nil && !strings.HasPrefix(s, "v=0") {
			t.Fatalf("accepted %q", s)
		}
	})
}
