package secfilter

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestGeoDBCountry(t *testing.T) {
	path := WriteTestMMDB(t, map[string]string{
		"81.2.69.0/24":     "GB",
		"2001:db8:1::/48":  "ES",
		"198.51.100.0/24":  "reg:US", // registered_country only
		"203.0.113.128/25": "CN",
	})
	g, err := openGeoDB(path)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"81.2.69.142":      "GB",
		"::ffff:81.2.69.1": "GB",
		"2001:db8:1:2::3":  "ES",
		"198.51.100.20":    "US",
		"203.0.113.200":    "CN",
		"203.0.113.100":    "",
		"192.0.2.1":        "",
		"fe80::1%eth0":     "",
	} {
		got, err := g.Country(netip.MustParseAddr(ip))
		if err != nil || got != want {
			t.Errorf("Country(%s) = %q, %v; want %q", ip, got, err, want)
		}
	}
}

func TestGeoDBBadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := openGeoDB(filepath.Join(dir, "missing.mmdb")); err == nil {
		t.Error("missing file accepted")
	}
	junk := filepath.Join(dir, "junk.mmdb")
	if err := os.WriteFile(junk, []byte("not a maxmind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openGeoDB(junk); err == nil {
		t.Error("junk accepted")
	}
}
