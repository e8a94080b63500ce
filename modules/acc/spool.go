package acc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// record is one row for the database: table, columns and text values (nil
// is NULL); PostgreSQL converts the text to each column's type.
type record struct {
	Table string    `json:"t"`
	Cols  []string  `json:"c"`
	Vals  []*string `json:"v"`
}

// spool keeps database records on disk while the database is away: a
// directory of segment files of JSON lines, appended and fsynced batch by
// batch, read back oldest first. The bytes it holds are bounded; what does
// not fit is refused (the caller counts and reports it). Segments left by a
// previous run are picked up at start. Only the writer goroutine uses it;
// the counters are read by stats.
type spool struct {
	dir    string
	max    int64
	segMax int64

	segs  []*segment // oldest first
	w     *os.File   // open segment being appended to (the last one)
	bytes atomic.Int64
	recs  atomic.Int64
}

type segment struct {
	seq   int64
	size  int64
	off   int64 // bytes already written to the database
	count int64 // records not yet written
}

func (s *spool) segPath(seq int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016d.jsonl", seq))
}
func (s *spool) offPath(seq int64) string { return filepath.Join(s.dir, fmt.Sprintf("%016d.off", seq)) }

// openSpool opens (creating) dir and indexes the segments found there.
func openSpool(dir string, max int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	s := &spool{dir: dir, max: max, segMax: min(max/4+1, 4<<20)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		seq, err := strconv.ParseInt(strings.TrimSuffix(name, ".jsonl"), 10, 64)
		if err != nil {
			continue
		}
		sg := &segment{seq: seq}
		if err := s.index(sg); err != nil {
			return nil, err
		}
		s.segs = append(s.segs, sg)
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	// Make sure the directory can be written to now rather than at the
	// first outage.
	probe := filepath.Join(dir, ".probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("spool directory not writable: %w", err)
	}
	_ = os.Remove(probe)
	return s, nil
}

// index reads a segment's size, offset and record count.
func (s *spool) index(sg *segment) error {
	f, err := os.Open(s.segPath(sg.seq))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sg.size = st.Size()
	if b, err := os.ReadFile(s.offPath(sg.seq)); err == nil {
		sg.off, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		sg.off = min(max(sg.off, 0), sg.size)
	}
	if _, err := f.Seek(sg.off, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			sg.count++
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
	}
	s.bytes.Add(sg.size - sg.off)
	s.recs.Add(sg.count)
	return nil
}

// pending is the number of records in the spool.
func (s *spool) pending() int64 { return s.recs.Load() }

// errFull: the spool is at its bound.
var errFull = errors.New("accounting spool full")

// append writes recs and fsyncs once; it returns how many were written.
// Records past the bound are not written (errFull).
func (s *spool) append(recs []record) (int, error) {
	var buf []byte
	n := 0
	full := false
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			continue
		}
		line = append(line, '\n')
		if s.bytes.Load()+int64(len(buf)+len(line)) > s.max {
			full = true
			break
		}
		buf = append(buf, line...)
		n++
	}
	if n > 0 {
		if err := s.write(buf, int64(n)); err != nil {
			return 0, err
		}
	}
	if full {
		return n, errFull
	}
	return n, nil
}

func (s *spool) write(buf []byte, n int64) error {
	last := s.last()
	if s.w == nil || last == nil || last.size >= s.segMax {
		if s.w != nil {
			_ = s.w.Close()
			s.w = nil
		}
		seq := int64(1)
		if last != nil {
			seq = last.seq + 1
		}
		f, err := os.OpenFile(s.segPath(seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.w = f
		last = &segment{seq: seq}
		s.segs = append(s.segs, last)
		syncDir(s.dir)
	}
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	last.size += int64(len(buf))
	last.count += n
	s.bytes.Add(int64(len(buf)))
	s.recs.Add(n)
	return nil
}

func (s *spool) last() *segment {
	if len(s.segs) == 0 {
		return nil
	}
	return s.segs[len(s.segs)-1]
}

// next reads up to n records from the oldest segment. commit marks them
// written to the database; until then a crash leaves them in the spool.
// Lines that do not decode are skipped and counted in bad.
func (s *spool) next(n int) (recs []record, bad int, commit func() error, err error) {
	for len(s.segs) > 0 {
		sg := s.segs[0]
		if sg.off >= sg.size {
			if len(s.segs) == 1 && s.w != nil {
				return nil, 0, nil, nil // everything read; keep appending to it
			}
			s.removeFirst()
			continue
		}
		if len(s.segs) == 1 && s.w != nil {
			// Seal the segment being read: new records go to a new one.
			_ = s.w.Close()
			s.w = nil
		}
		f, err := os.Open(s.segPath(sg.seq))
		if err != nil {
			return nil, 0, nil, fmt.Errorf("spool: %w", err)
		}
		defer f.Close()
		if _, err := f.Seek(sg.off, io.SeekStart); err != nil {
			return nil, 0, nil, fmt.Errorf("spool: %w", err)
		}
		r := bufio.NewReaderSize(f, 64<<10)
		var used int64
		var lines int64
		for len(recs) < n {
			line, err := r.ReadBytes('\n')
			if len(line) == 0 || line[len(line)-1] != '\n' {
				// A torn last line (crash during a write) ends the segment.
				used += int64(len(line))
				break
			}
			used += int64(len(line))
			lines++
			var rec record
			if json.Unmarshal(line, &rec) != nil || rec.Table == "" || len(rec.Cols) != len(rec.Vals) {
				bad++
			} else {
				recs = append(recs, rec)
			}
			if err != nil {
				break
			}
		}
		commit = func() error {
			sg.off += used
			sg.count -= lines
			s.bytes.Add(-used)
			s.recs.Add(-lines)
			if sg.off >= sg.size && !(len(s.segs) == 1 && s.w != nil) {
				s.removeFirst()
				return nil
			}
			return writeFileSync(s.offPath(sg.seq), []byte(strconv.FormatInt(sg.off, 10)))
		}
		return recs, bad, commit, nil
	}
	return nil, 0, nil, nil
}

// removeFirst deletes the oldest segment (fully written to the database).
func (s *spool) removeFirst() {
	sg := s.segs[0]
	_ = os.Remove(s.segPath(sg.seq))
	_ = os.Remove(s.offPath(sg.seq))
	s.bytes.Add(-(sg.size - sg.off))
	s.recs.Add(-sg.count)
	s.segs = s.segs[1:]
	syncDir(s.dir)
}

func (s *spool) close() {
	if s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
}

// writeFileSync replaces path atomically and durably.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
