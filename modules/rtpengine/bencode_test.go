package rtpengine

import (
	"reflect"
	"strings"
	"testing"
)

func TestBencodeRoundTrip(t *testing.T) {
	in := map[string]any{
		"command": "offer", "call-id": "a b:c", "TOS": int64(-1), "empty": "",
		"flags":  []any{"trust-address", "SIP-source-address"},
		"codec":  map[string]any{"strip": []any{"PCMA"}, "offer": []any{}},
		"sdp":    "v=0\r\n",
		"nested": []any{[]any{int64(0), int64(123456789012)}, map[string]any{}},
	}
	b, err := encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decode(b)
	if err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in  %#v\n out %#v", in, out)
	}
}

func TestBencodeSortsKeys(t *testing.T) {
	b, _ := encode(nil, map[string]any{"z": 1, "a": "x", "m": []string{"q"}})
	if got, want := string(b), "d1:a1:x1:ml1:qe1:zi1ee"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestBencodeEncodeRefusesUnknownTypes(t *testing.T) {
	if _, err := encode(nil, map[string]any{"x": 1.5}); err == nil {
		t.Fatal("float encoded")
	}
}

func TestBencodeDecodeRejects(t *testing.T) {
	deep := strings.Repeat("l", maxDepth+2) + strings.Repeat("e", maxDepth+2)
	for _, s := range []string{
		"", "i", "ie", "i-e", "i-0e", "i01e", "i1x2e", "i99999999999999999999e", "i12",
		"5:abc", "-1:a", "01:a", "a", "l", "li1e", "d", "d1:ai1e", "di1ei2ee", "d1:ai1e1:ai2ee",
		"4:spamX", "i1ei2e", "99999999999:a", deep, "d3:cow",
	} {
		if v, err := decode([]byte(s)); err == nil {
			t.Errorf("decode(%q) = %#v, want an error", s, v)
		}
	}
}

func TestBencodeDecodeAccepts(t *testing.T) {
	for s, want := range map[string]any{
		"i0e": int64(0), "i-42e": int64(-42), "0:": "", "4:spam": "spam", "le": []any{},
		"de": map[string]any{}, "d1:b1:x1:a1:ye": map[string]any{"a": "y", "b": "x"},
	} {
		v, err := decode([]byte(s))
		if err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("decode(%q) = %#v, %v; want %#v", s, v, err, want)
		}
	}
}

// FuzzDecode: the decoder never panics, and what it accepts encodes back
// to something that decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"d6:result2:ok3:sdp4:v=0\re", "li1ei-2e0:e", "d1:ad1:bl4:spamee", "i9223372036854775807e",
		"d6:result5:error12:error-reason14:Unknown call-ide", "l" + strings.Repeat("l", 40)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decode(data)
		if err != nil {
			return
		}
		b, err := encode(nil, v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		v2, err := decode(b)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("re-decode of %q: %#v %v, want %#v", b, v2, err, v)
		}
	})
}
