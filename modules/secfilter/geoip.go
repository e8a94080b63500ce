package secfilter

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/oschwald/maxminddb-golang/v2"
)

// geoDB looks up the country of an address in a GeoIP2/GeoLite2 Country or
// City database (an .mmdb file).
//
// The file is read into memory rather than mapped: a reload swaps in a new
// reader while other workers may still be looking up in the old one, and an
// unmapped file under a running lookup would crash the process. The old
// reader is simply left to the garbage collector.
type geoDB struct {
	path string
	r    *maxminddb.Reader
}

// maxMMDB bounds the database file (a GeoIP2 City file is ~70 MB).
const maxMMDB = 512 << 20

func openGeoDB(path string) (*geoDB, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geoip2_path: %w", err)
	}
	if st.Size() > maxMMDB {
		return nil, fmt.Errorf("geoip2_path %s: larger than %d MiB", path, maxMMDB>>20)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip2_path: %w", err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip2_path %s: %w", path, err)
	}
	return &geoDB{path: path, r: r}, nil
}

// geoRecord is the part of a GeoIP2 record secfilter needs.
type geoRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// Country returns the ISO 3166 code of a, "" when the database has no record
// for it. The country where the address is used wins; the country where its
// block is registered is the fallback (anycast and satellite ranges often
// have only that).
func (g *geoDB) Country(a netip.Addr) (string, error) {
	res := g.r.Lookup(a.Unmap().WithZone(""))
	if err := res.Err(); err != nil {
		return "", err
	}
	if !res.Found() {
		return "", nil
	}
	var rec geoRecord
	if err := res.Decode(&rec); err != nil {
		return "", err
	}
	if rec.Country.ISOCode != "" {
		return rec.Country.ISOCode, nil
	}
	return rec.RegisteredCountry.ISOCode, nil
}
