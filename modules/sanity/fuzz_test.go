package sanity

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/luasbc/luasbc/core/msg"
)

// FuzzSanity runs every check, one at a time and all together, on whatever
// the core parser lets through; a check must never panic. The seeds are the
// corpus in testdata/fuzz/FuzzSanity plus the RFC 4475 torture messages.
func FuzzSanity(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(tortureDir, "*", "*.dat"))
	for _, fn := range files {
		if b, err := os.ReadFile(fn); err == nil {
			f.Add(b)
		}
	}
	p := &Params{ProxyRequire: []string{"foo"}, SizeMessage: 16384, SizeHeaders: 8192, SizeBody: 8192,
		SizeHeader: 2048, SizeMethod: 32, SizeRURI: 256, SizeFromURI: 256, SizeToURI: 256, SizeContactURI: 256,
		SizeRouteURI: 256, SizePathURI: 256, SizePAIURI: 256}
	src := netip.MustParseAddrPort("192.0.2.9:5060")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := msg.Parse(data, src, nil, msg.UDP)
		if err != nil {
			return
		}
		for bit := 1; bit <= CheckSizes; bit <<= 1 {
			if f := Check(m, bit, 15, p); f != nil && (f.Code < 400 || f.Code > 699 || f.Reason == "") {
				t.Fatalf("bad failure %v", f)
			}
		}
		Check(m, 1<<17-1, 15, p)
		Check(m, 17895, 7, nil)
	})
}
