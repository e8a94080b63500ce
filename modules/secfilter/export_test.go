package secfilter

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteTestMMDB writes a GeoIP2-Country-shaped database mapping each CIDR
// to an ISO code and returns its path. A code starting with "reg:" is
// written as registered_country only (no country record).
func WriteTestMMDB(t testing.TB, nets map[string]string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{}
		if len(cc) > 4 && cc[:4] == "reg:" {
			rec["registered_country"] = mmdbtype.Map{"iso_code": mmdbtype.String(cc[4:])}
		} else {
			rec["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(cc)}
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// EscapeDBText exposes the db_text escaping to the external tests.
func EscapeDBText(s string) string { return escapeDBText(s) }
