package permissions

import (
	"context"
	"fmt"
	"os"
)

// Where the address and trusted tables come from. Each table has one
// source, chosen at start-up: a file (address_file, trusted_file), else the
// database (db_url, or the global db_url), else nothing (an empty table:
// the functions return -1, as Kamailio's do without db_url). A load returns
// every row or an error; the caller builds and swaps in the new table only
// after a complete, valid load.

type addressSource interface {
	loadAddresses(ctx context.Context) ([]addrRow, error)
	describe() string
}

type trustedSource interface {
	loadTrusted(ctx context.Context) ([]trustedRow, error)
	describe() string
}

// trustedQuerier looks a source address up in the database on each call
// (db_mode 0, no cache).
type trustedQuerier interface {
	queryTrusted(ctx context.Context, src string) ([]trustedRow, error)
}

// maxTableFileSize bounds an address or trusted file.
const maxTableFileSize = 256 << 20

// noSource is the embedded default: an empty table.
type noSource struct{}

func (noSource) loadAddresses(context.Context) ([]addrRow, error)  { return nil, nil }
func (noSource) loadTrusted(context.Context) ([]trustedRow, error) { return nil, nil }
func (noSource) describe() string                                  { return "none (empty)" }

// fileSource reads a table file in full on every load.
type fileSource struct{ path string }

func (f fileSource) describe() string { return "file " + f.path }

func (f fileSource) read() ([]byte, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", f.path)
	}
	if st.Size() > maxTableFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.path, maxTableFileSize)
	}
	return os.ReadFile(f.path)
}

func (f fileSource) loadAddresses(context.Context) ([]addrRow, error) {
	data, err := f.read()
	if err != nil {
		return nil, err
	}
	return parseAddressFile(f.path, data)
}

func (f fileSource) loadTrusted(context.Context) ([]trustedRow, error) {
	data, err := f.read()
	if err != nil {
		return nil, err
	}
	return parseTrustedFile(f.path, data)
}
