package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/luasbc/luasbc/core/rpc"
	"github.com/luasbc/luasbc/kemi"
)

func mustGenerate(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestUpToDate fails when an export, modparam or RPC method changed without
// the docs and stubs in the repository being regenerated.
func TestUpToDate(t *testing.T) {
	changed, old, err := staleFiles(filepath.Join("..", ".."), mustGenerate(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		changed = append(changed, p+" (no longer generated)")
	}
	if len(changed) > 0 {
		t.Fatalf("generated API docs or Lua stubs are out of date; run `make docs`:\n  %s", strings.Join(changed, "\n  "))
	}
}

func TestDeterministic(t *testing.T) {
	a, b := mustGenerate(t), mustGenerate(t)
	for p := range a {
		if !bytes.Equal(a[p], b[p]) {
			t.Errorf("%s differs between two runs", p)
		}
	}
}

func TestContent(t *testing.T) {
	files := mustGenerate(t)
	contains := func(path, want string) {
		t.Helper()
		if !strings.Contains(string(files[path]), want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	contains("docs/api/sl.md", "| `KSR.sl.sl_send_reply(int, str) -> int` | Send a reply statelessly.")
	contains("docs/api/sl.md", "| `rich_redirect` | `0` | *Accepted, no effect.*")
	contains("docs/api/sl.md", "| `default_reason` | `\"Internal Server Error\"` |")
	contains("docs/api/README.md", "| [sl](sl.md) | 6 |")
	contains("docs/api/core.md", "| `KSR.hdr.get(str) -> xval` |")
	contains("docs/api/core.md", "| `app_lua.reload` | `[index]` | Compile and load the script again")
	contains("docs/api/core.md", "| `core.version` |")
	contains("lua/types/ksr.lua", "---@param p1 integer\n---@param p2 string\n---@return integer\nfunction KSR.sl.sl_send_reply(p1, p2) end\n")
	contains("lua/types/ksr.lua", "---@class KSR.sl\nKSR.sl = {}\n")
	contains("lua/types/ksr.lua", "KSRVERSION = \"2.0\"\n")
	if _, ok := files["docs/api/maxfwd.md"]; !ok {
		t.Error("no page for maxfwd")
	}
}

// TestStubsLoad runs the stubs as Lua, which catches syntax errors and checks
// that every export, and nothing else, is a function at its place in KSR.
func TestStubsLoad(t *testing.T) {
	api, err := kemi.APIDoc()
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(string(luaStubs(api))); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, x := range api.Core {
		want[x.FullName()] = true
	}
	for _, m := range api.Modules {
		for _, x := range m.Exports {
			if want[x.FullName()] {
				t.Errorf("%s exported twice", x.FullName())
			}
			want[x.FullName()] = true
		}
	}
	got := map[string]bool{}
	var walk func(prefix string, tb *lua.LTable)
	walk = func(prefix string, tb *lua.LTable) {
		tb.ForEach(func(k, v lua.LValue) {
			name := prefix + "." + k.String()
			switch v.Type() {
			case lua.LTFunction:
				got[name] = true
			case lua.LTTable:
				walk(name, v.(*lua.LTable))
			}
		})
	}
	walk("KSR", L.GetGlobal("KSR").(*lua.LTable))
	for n := range want {
		if !got[n] {
			t.Errorf("stubs lack %s", n)
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("stubs declare %s, which is not exported", n)
		}
	}
}

// TestModulePage renders a made-up module, since no module linked in today
// has RPC methods or pseudo-variables.
func TestModulePage(t *testing.T) {
	m := kemi.ModuleAPI{
		Module: &kemi.Module{Name: "demo", Doc: "Demo <module> for *tests*.", Params: []kemi.ParamDef{
			{Name: "shm_size", Default: 64, Doc: "Shared memory.", Ignored: true},
			{Name: "table", Default: "a|b", Doc: "Table name."},
		}},
		Exports: []kemi.Export{{Module: "demo", Name: "end", Params: []kemi.ParamType{kemi.Str, kemi.Long}, Ret: kemi.RetXval, Doc: "Keyword name."}},
		PVs:     []kemi.PVDoc{{Name: "demo", Inner: true, Doc: "A value."}},
		RPC:     []rpc.Method{{Name: "demo.list", Doc: "List."}, {Name: "demo.dump", Params: "[name]", Doc: "Dump | all."}},
	}
	api := &kemi.API{Version: "2.0", Modules: []kemi.ModuleAPI{m}}
	files := render(api, nil)
	page := string(files["docs/api/demo.md"])
	for _, want := range []string{
		"Demo \\<module\\> for \\*tests\\*.",
		"| `KSR.demo.end(str, long) -> xval` | Keyword name. |",
		"| `shm_size` | `64` | *Accepted, no effect.* Shared memory. |",
		"| `table` | `\"a\\|b\"` | Table name. |",
		"| `$demo(name)` | read-only | A value. |",
		"| `demo.dump` | `[name]` | Dump \\| all. |\n| `demo.list` |  | List. |",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("demo.md lacks %q:\n%s", want, page)
		}
	}
	stub := string(files["lua/types/ksr.lua"])
	if !strings.Contains(stub, "---@param p2 number\n---@return string|number|boolean|table|nil\nKSR.demo[\"end\"] = function(p1, p2) end\n") {
		t.Errorf("stub for a keyword-named function:\n%s", stub)
	}
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(stub); err != nil {
		t.Fatal(err)
	}
}

// TestCheckAndWrite drives the command: -check fails on a fresh directory,
// a write makes it pass, and an edited or leftover page makes it fail again.
func TestCheckAndWrite(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if rc := run([]string{"-check", "-o", dir}, &out, &errb); rc != 1 {
		t.Fatalf("-check on an empty dir: rc %d", rc)
	}
	if rc := run([]string{"-o", dir}, &out, &errb); rc != 0 {
		t.Fatalf("write: rc %d: %s", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"-check", "-o", dir}, &out, &errb); rc != 0 {
		t.Fatalf("-check after write: rc %d: %s", rc, errb.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "docs/api/sl.md"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs/api/gone.md"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rc := run([]string{"-check", "-o", dir}, &out, &errb); rc != 1 {
		t.Fatalf("-check after edit: rc %d", rc)
	}
	for _, want := range []string{"docs/api/sl.md", "docs/api/gone.md (no longer generated)", "make docs"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, errb.String())
		}
	}
	if rc := run([]string{"-o", dir}, &out, &errb); rc != 0 {
		t.Fatalf("rewrite: rc %d", rc)
	}
	if _, err := os.Stat(filepath.Join(dir, "docs/api/gone.md")); !os.IsNotExist(err) {
		t.Errorf("obsolete page not removed: %v", err)
	}
}
