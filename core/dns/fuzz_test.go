package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzAnswer feeds arbitrary DNS responses to the code that picks records
// out of them and orders SRV/NAPTR/address results.
func FuzzAnswer(f *testing.F) {
	for _, rrs := range [][]string{zone, {"x.test. 60 IN CNAME y.test.", "y.test. 60 IN CNAME x.test."}} {
		m := new(mdns.Msg)
		m.SetQuestion("example.test.", mdns.TypeNAPTR)
		for _, s := range rrs {
			rr, err := mdns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		name := "example.test."
		if len(m.Question) > 0 {
			name = m.Question[0].Name
		}
		for _, qt := range []uint16{mdns.TypeNAPTR, mdns.TypeSRV, mdns.TypeA, mdns.TypeAAAA} {
			recs, _, neg := Answer(m, name, qt)
			if neg && len(recs) > 0 {
				t.Fatal("negative answer with records")
			}
			for _, s := range SortSRV(recs, true) {
				if s.Port == 0 || s.Target == "." {
					t.Fatal("unusable SRV kept")
				}
			}
			prev := NAPTR{}
			for i, n := range SortNAPTR(recs, false) {
				if i > 0 && (n.Order < prev.Order || n.Order == prev.Order && n.Preference < prev.Preference) {
					t.Fatal("NAPTR out of order")
				}
				prev = n
			}
			for _, a := range AddrsOf(recs) {
				if !a.IsValid() {
					t.Fatal("invalid address")
				}
			}
		}
	})
}
