package usrloc

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// timer runs every timer_interval: it takes expired contacts out of every
// table (raising usrloc:contact-expired through OnExpired), flushes
// write-back changes and, with db_timer_clean, deletes expired rows other
// writers left in the table.
func (m *Module) timer() {
	defer m.wg.Done()
	tk := time.NewTicker(m.s.interval)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
		}
		for _, d := range m.Domains() {
			m.tick(d)
			select {
			case <-m.stop:
				return
			default:
			}
		}
	}
}

// Tick runs one timer pass over every table now (tests, ul.flush).
func (m *Module) Tick() {
	for _, d := range m.Domains() {
		m.tick(d)
	}
}

func (m *Module) tick(d *Domain) {
	ctx, cancel := context.WithTimeout(context.Background(), m.s.interval+10*time.Second)
	defer cancel()
	gone, err := d.st.expire(ctx, unixNow())
	if err != nil {
		m.log.Debug("usrloc: expiry pass incomplete", zap.String("table", d.Name), zap.Error(err))
	}
	if len(gone) > 0 {
		d.expired.Add(int64(len(gone)))
		m.mu.Lock()
		cbs := append([]func(*Domain, Contact){}, m.onExpired...)
		m.mu.Unlock()
		for _, c := range gone {
			for _, f := range cbs {
				f(d, c)
			}
		}
	}
	if err := d.st.flush(ctx); err != nil {
		m.log.Debug("usrloc: write-back pending", zap.String("table", d.Name), zap.Error(err))
	}
	if m.s.dbTimerClean && (m.s.dbMode == 1 || m.s.dbMode == 2) {
		if ms, ok := d.st.(*memStore); ok && ms.db != nil {
			if _, err := ms.db.deleteExpired(ctx, unixNow()); err != nil {
				m.dbh.fail(err)
			}
		}
	}
}
