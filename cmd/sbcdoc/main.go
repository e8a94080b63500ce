// Command sbcdoc generates the KSR API reference (docs/api/) and the Lua
// language server stubs (lua/types/ksr.lua) from the KEMI export registry,
// the one source of truth for what scripts can call.
//
//	sbcdoc [-o DIR]     write the files under DIR (default: the repository root)
//	sbcdoc -check       list the files that differ from what would be written; exit 1 if any
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core"
	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
	"github.com/luasbc/luasbc/kemi/dbschema"
	_ "github.com/luasbc/luasbc/modules/all"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("sbcdoc", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("o", "", "output root (default: the repository root, found by go.mod)")
	check := fl.Bool("check", false, "report stale generated files instead of writing them")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *root == "" {
		*root = repoRoot()
	}
	files, err := generate()
	if err != nil {
		fmt.Fprintln(stderr, "sbcdoc:", err)
		return 1
	}
	if *check {
		changed, old, err := staleFiles(*root, files)
		if err != nil {
			fmt.Fprintln(stderr, "sbcdoc:", err)
			return 1
		}
		if len(changed)+len(old) == 0 {
			return 0
		}
		fmt.Fprintln(stderr, "sbcdoc: generated files are out of date (run `make docs`):")
		for _, p := range changed {
			fmt.Fprintln(stderr, "  "+p)
		}
		for _, p := range old {
			fmt.Fprintln(stderr, "  "+p+" (no longer generated)")
		}
		return 1
	}
	changed, err := write(*root, files)
	if err != nil {
		fmt.Fprintln(stderr, "sbcdoc:", err)
		return 1
	}
	for _, p := range changed {
		fmt.Fprintln(stdout, p)
	}
	return 0
}

// generate renders every file from the registry of the modules linked in.
func generate() (map[string][]byte, error) {
	api, err := kemi.APIDoc()
	if err != nil {
		return nil, err
	}
	files := render(api, serverRPC())
	files["deploy/postgres/luasbc.sql"] = []byte(dbschema.Script(dbschema.All()))
	return files, nil
}

// serverRPC lists the methods cmd/sbc registers outside the engine. Their
// handlers are never called here, so a nil core is enough to read names and docs.
func serverRPC() []rpc.Method {
	ms := rpc.NewServer(zap.NewNop()).Methods() // system.*
	return append(ms, core.RPCMethods(nil)...)
}

// staleFiles lists generated files that are missing or differ under root
// (changed), and pages in docs/api that would no longer be generated (old).
func staleFiles(root string, files map[string][]byte) (changed, old []string, err error) {
	for _, p := range sortedKeys(files) {
		have, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		if err != nil || !bytes.Equal(have, files[p]) {
			changed = append(changed, p)
		}
	}
	old, err = obsolete(root, files)
	return changed, old, err
}

// write updates only the files that changed, so the others keep their
// modification times, and removes obsolete pages. It returns what it touched.
func write(root string, files map[string][]byte) ([]string, error) {
	changed, old, err := staleFiles(root, files)
	if err != nil {
		return nil, err
	}
	for _, p := range changed {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, files[p], 0o644); err != nil {
			return nil, err
		}
	}
	for _, p := range old {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			return nil, err
		}
	}
	return append(changed, old...), nil
}

// obsolete finds Markdown pages in docs/api that are not generated any more
// (a module was removed or renamed): the directory belongs to sbcdoc.
func obsolete(root string, files map[string][]byte) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(apiDir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		p := path.Join(apiDir, e.Name())
		if _, ok := files[p]; !ok && !e.IsDir() && strings.HasSuffix(e.Name(), ".md") {
			out = append(out, p)
		}
	}
	return out, nil
}

// repoRoot walks up from the working directory to go.mod, so `go run
// ./cmd/sbcdoc` from anywhere in the tree writes to the same place.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
