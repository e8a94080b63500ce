package acc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func rec(i int) record {
	v := fmt.Sprint(i)
	return record{Table: "acc", Cols: []string{"callid"}, Vals: []*string{&v}}
}

func drainAll(t *testing.T, s *spool, n int) []string {
	t.Helper()
	var out []string
	for {
		recs, bad, commit, err := s.next(n)
		if err != nil {
			t.Fatal(err)
		}
		if commit == nil {
			return out
		}
		if bad != 0 {
			t.Fatalf("%d bad lines", bad)
		}
		for _, r := range recs {
			out = append(out, *r.Vals[0])
		}
		if err := commit(); err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 && s.pending() == 0 {
			return out
		}
	}
}

func TestSpoolKeepsOrderAcrossSegmentsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.segMax = 200 // several segments
	for i := 0; i < 50; i++ {
		if _, err := s.append([]record{rec(i), rec(1000 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if s.pending() != 100 {
		t.Fatalf("pending %d", s.pending())
	}
	// Read part, commit, "crash", reopen: the rest is still there, once.
	recs, _, commit, _ := s.next(7)
	if len(recs) == 0 || *recs[0].Vals[0] != "0" {
		t.Fatalf("first records %v", recs)
	}
	read := len(recs)
	_ = commit()
	s.close()
	s2, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s2.pending() != int64(100-read) {
		t.Fatalf("after reopen pending %d, want %d", s2.pending(), 100-read)
	}
	got := drainAll(t, s2, 9)
	if len(got) != 100-read {
		t.Fatalf("drained %d", len(got))
	}
	want := []string{}
	for i := 0; i < 50; i++ {
		want = append(want, fmt.Sprint(i), fmt.Sprint(1000+i))
	}
	for i, g := range got {
		if g != want[read+i] {
			t.Fatalf("record %d = %s, want %s", i, g, want[read+i])
		}
	}
	if s2.pending() != 0 || s2.bytes.Load() != 0 {
		t.Fatalf("empty spool: pending %d bytes %d", s2.pending(), s2.bytes.Load())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) > 1 {
		t.Errorf("files left after draining: %d", len(ents))
	}
}

func TestSpoolBound(t *testing.T) {
	s, err := openSpool(t.TempDir(), 400)
	if err != nil {
		t.Fatal(err)
	}
	var batch []record
	for i := 0; i < 40; i++ {
		batch = append(batch, rec(i))
	}
	n, err := s.append(batch)
	if !errors.Is(err, errFull) || n == 0 || n >= 40 {
		t.Fatalf("append over the bound: %d %v", n, err)
	}
	if s.bytes.Load() > 400 {
		t.Fatalf("spool holds %d bytes over its bound", s.bytes.Load())
	}
	got := drainAll(t, s, 100)
	if len(got) != n {
		t.Fatalf("drained %d, appended %d", len(got), n)
	}
	// Room again after draining.
	if _, err := s.append([]record{rec(1)}); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolSkipsCorruptAndTornLines(t *testing.T) {
	dir := t.TempDir()
	good := `{"t":"acc","c":["callid"],"v":["a"]}` + "\n"
	data := good + "not json\n" + `{"t":"","c":[],"v":[]}` + "\n" + good + `{"t":"acc","c":["cal`
	if err := os.WriteFile(filepath.Join(dir, "0000000000000003.jsonl"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs, bad, commit, err := s.next(100)
	if err != nil || len(recs) != 2 || bad != 2 {
		t.Fatalf("recs %d bad %d err %v", len(recs), bad, err)
	}
	_ = commit()
	if s.pending() != 0 {
		t.Fatalf("pending %d", s.pending())
	}
	// New records after the old segment go to a new one.
	if _, err := s.append([]record{rec(5)}); err != nil {
		t.Fatal(err)
	}
	if got := drainAll(t, s, 10); len(got) != 1 || got[0] != "5" {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolDirectoryMustBeWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		f := filepath.Join(t.TempDir(), "file")
		_ = os.WriteFile(f, nil, 0o600)
		if _, err := openSpool(filepath.Join(f, "sub"), 1<<20); err == nil {
			t.Fatal("spool under a file opened")
		}
		return
	}
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := openSpool(dir, 1<<20); err == nil {
		t.Fatal("read-only spool directory accepted")
	}
}
