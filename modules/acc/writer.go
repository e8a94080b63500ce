package acc

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/stats"
)

// writer moves records to PostgreSQL off the SIP path: the transaction
// completion only queues a record (a bounded channel, never waiting); one
// goroutine batches them into multi-row INSERTs inside a transaction. When
// the database does not answer, batches go to the on-disk spool and are
// written, oldest first, once it is back.
type writer struct {
	pool  *pgxpool.Pool
	sp    *spool
	in    chan record
	stop  chan struct{}
	done  chan struct{}
	log   *zap.Logger
	batch int
	flush time.Duration

	down      bool
	retryAt   time.Time
	backoff   time.Duration
	fullSince bool // the spool refused records since it last had room

	st struct {
		queued, written, spooled, spoolDropped, queueDropped, rejected, corrupt *stats.Counter
	}
}

const (
	insertTimeout = 5 * time.Second
	maxBackoff    = 30 * time.Second
	maxParams     = 60000 // PostgreSQL allows 65535 bind parameters
)

func newWriter(pool *pgxpool.Pool, sp *spool, queue int, log *zap.Logger) *writer {
	w := &writer{pool: pool, sp: sp, in: make(chan record, queue), stop: make(chan struct{}), done: make(chan struct{}),
		log: log, batch: 200, flush: 100 * time.Millisecond}
	w.st.queued = stats.New("acc", "db_records", "records queued for the database")
	w.st.written = stats.New("acc", "db_written", "records written to the database")
	w.st.spooled = stats.New("acc", "db_spooled", "records written to the on-disk spool while the database was away")
	w.st.spoolDropped = stats.New("acc", "spool_dropped", "records lost because the spool was full")
	w.st.queueDropped = stats.New("acc", "queue_dropped", "records lost because the writer queue was full")
	w.st.rejected = stats.New("acc", "db_rejected", "records the database refused (unknown column, bad value)")
	w.st.corrupt = stats.New("acc", "spool_corrupt", "spool lines that could not be read back")
	stats.Gauge("acc", "spool_records", func() int64 { return sp.pending() })
	stats.Gauge("acc", "spool_bytes", func() int64 { return sp.bytes.Load() })
	return w
}

// put queues a record without ever blocking the caller.
func (w *writer) put(r record) {
	select {
	case w.in <- r:
		w.st.queued.Inc()
	default:
		w.st.queueDropped.Inc()
		w.log.Error("accounting record lost: writer queue full", zap.String("table", r.Table))
	}
}

func (w *writer) run() {
	defer close(w.done)
	tk := time.NewTicker(w.flush)
	defer tk.Stop()
	var batch []record
	for {
		select {
		case r := <-w.in:
			batch = append(batch, r)
			if len(batch) >= w.batch {
				w.write(batch)
				batch = nil
			}
		case <-tk.C:
			if len(batch) > 0 {
				w.write(batch)
				batch = nil
			} else if w.sp.pending() > 0 && !time.Now().Before(w.retryAt) {
				w.drain()
			}
		case <-w.stop:
			for {
				select {
				case r := <-w.in:
					batch = append(batch, r)
					continue
				default:
				}
				break
			}
			// One last attempt; what the database does not take now waits
			// in the spool for the next start.
			w.retryAt = time.Time{}
			if len(batch) > 0 {
				w.write(batch)
			}
			if w.sp.pending() > 0 && !w.down {
				w.drain()
			}
			w.sp.close()
			return
		}
	}
}

// write sends a batch, or spools it while the database is away or while
// older records wait in the spool (order is kept).
func (w *writer) write(batch []record) {
	if w.sp.pending() == 0 && !w.isDown() {
		err := w.insert(batch)
		if err == nil {
			return
		}
		w.markDown(err)
	}
	w.toSpool(batch)
	if !w.isDown() {
		w.drain()
	}
}

func (w *writer) isDown() bool { return w.down && time.Now().Before(w.retryAt) }

func (w *writer) toSpool(batch []record) {
	n, err := w.sp.append(batch)
	w.st.spooled.Add(int64(n))
	if err == nil {
		if w.fullSince {
			w.fullSince = false
			w.log.Info("accounting spool has room again")
		}
		return
	}
	lost := len(batch) - n
	w.st.spoolDropped.Add(int64(lost))
	if errors.Is(err, errFull) {
		if !w.fullSince {
			w.fullSince = true
			w.log.Error("accounting spool full: records are being lost until the database is back",
				zap.String("dir", w.sp.dir), zap.Int64("max_bytes", w.sp.max), zap.Int("lost", lost))
		}
		return
	}
	w.log.Error("accounting spool write failed: records lost", zap.String("dir", w.sp.dir), zap.Int("lost", lost), zap.Error(err))
}

// drain writes spooled records to the database until the spool is empty
// or the database fails again.
func (w *writer) drain() {
	total := 0
	for w.sp.pending() > 0 {
		recs, bad, commit, err := w.sp.next(w.batch)
		if err != nil {
			w.log.Error("accounting spool read failed", zap.Error(err))
			w.retryAt = time.Now().Add(maxBackoff)
			return
		}
		if commit == nil {
			return
		}
		if bad > 0 {
			w.st.corrupt.Add(int64(bad))
			w.log.Error("unreadable accounting spool lines skipped", zap.Int("lines", bad))
		}
		if len(recs) > 0 {
			if err := w.insert(recs); err != nil {
				w.markDown(err)
				return
			}
		}
		if err := commit(); err != nil {
			w.log.Error("accounting spool offset not saved (records may be written twice after a restart)", zap.Error(err))
		}
		total += len(recs)
	}
	if w.down || total > 0 {
		w.log.Info("accounting database reachable: spooled records written", zap.Int("records", total))
	}
	w.down, w.backoff = false, 0
}

// markDown notes a database failure and when to try again.
func (w *writer) markDown(err error) {
	if !w.down {
		w.log.Error("accounting database unreachable: records go to the spool", zap.String("dir", w.sp.dir), zap.Error(err))
	}
	w.down = true
	w.backoff = min(max(2*w.backoff, time.Second), maxBackoff)
	w.retryAt = time.Now().Add(w.backoff)
}

// insert writes recs in one transaction. Records the database refuses
// (a missing column, a value of the wrong type) are written one by one and
// the refused ones dropped with a log line; only a connection failure is
// returned, so the caller keeps the batch.
func (w *writer) insert(recs []record) error {
	ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		for _, g := range groups(recs) {
			sql, args := insertSQL(g)
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		w.st.written.Add(int64(len(recs)))
		return nil
	}
	if !refused(err) {
		return err
	}
	for _, r := range recs {
		sql, args := insertSQL([]record{r})
		_, err := w.pool.Exec(ctx, sql, args...)
		switch {
		case err == nil:
			w.st.written.Inc()
		case refused(err):
			w.st.rejected.Inc()
			w.log.Error("accounting record refused by the database: dropped", zap.String("table", r.Table), zap.Error(err))
		default:
			return err
		}
	}
	return nil
}

// refused reports an error the database server gave about the statement
// or its data (as opposed to not being reachable).
func refused(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	// Class 08: connection exceptions; 53/57/58: resources, shutdown, system.
	switch pe.Code[:2] {
	case "08", "53", "57", "58":
		return false
	}
	return true
}

// groups splits recs into runs with the same table and columns, each
// small enough for one statement.
func groups(recs []record) [][]record {
	var out [][]record
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].Table == recs[i].Table && sameCols(recs[j].Cols, recs[i].Cols) &&
			(j-i+1)*len(recs[i].Cols) <= maxParams {
			j++
		}
		out = append(out, recs[i:j])
		i = j
	}
	return out
}

func sameCols(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// insertSQL is "INSERT INTO t (cols) VALUES ($1..),(..)" for a group.
func insertSQL(g []record) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(pgx.Identifier(strings.Split(g[0].Table, ".")).Sanitize())
	b.WriteString(" (")
	for i, c := range g[0].Cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c}.Sanitize())
	}
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(g)*len(g[0].Cols))
	for i, r := range g {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range r.Cols {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, textArg(r.Vals[j]))
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		b.WriteByte(')')
	}
	return b.String(), args
}

// textArg passes a value as text: pgx sends a Go string in the text
// format of whatever type the column has (timestamp, integer, real).
func textArg(v *string) any {
	if v == nil {
		return nil
	}
	return *v
}
