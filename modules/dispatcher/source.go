package dispatcher

import (
	"context"
	"fmt"
	"os"
)

// source is where the destination list comes from: the list file (the
// embedded default, Kamailio's own format) or the dispatcher table in
// PostgreSQL. A load returns the readable rows and, separately, the rows
// that could not be read (each with where and why); an error means nothing
// could be read at all, and the loaded list stays.
type source interface {
	load(ctx context.Context) (loaded, error)
	describe() string
}

// loaded is what a source read.
type loaded struct {
	rows  []row
	bad   []string // entries left out: "where: why"
	warns []string // entries read with something ignored
}

// maxListFileSize bounds a list file.
const maxListFileSize = 64 << 20

// fileSource reads a list file in full on every load.
type fileSource struct{ path string }

func (f fileSource) describe() string { return "file " + f.path }

func (f fileSource) load(context.Context) (loaded, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return loaded{}, err
	}
	if !st.Mode().IsRegular() {
		return loaded{}, fmt.Errorf("%s: not a regular file", f.path)
	}
	if st.Size() > maxListFileSize {
		return loaded{}, fmt.Errorf("%s: larger than %d bytes", f.path, maxListFileSize)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return loaded{}, err
	}
	var l loaded
	l.rows, l.bad, l.warns = parseListFile(f.path, data)
	return l, nil
}
