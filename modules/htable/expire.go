package htable

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/luasbc/luasbc/core/msg"
)

// extRecord is the message extension holding the expired item that
// $shtrecord(key) / $shtrecord(value) read in htable:expired:<table>.
const extRecord = "htable.record"

// event runs the event_callback Lua function, if any, on a fake message;
// rec is the expired item for htable:expired:<table>.
func (m *Module) event(name string, rec *Item) {
	if m.callback == "" || m.env.Engine == nil || m.env.Core == nil {
		return
	}
	fm := &msg.Msg{FakeMessage: true, RouteType: msg.RouteEvent}
	if rec != nil {
		fm.SetExt(extRecord, *rec)
	}
	m.env.Engine.CallEvent(fm, m.callback, name)
}

// timer collects expired items every timer_interval and runs the periodic
// database reloads (reloadat).
func (m *Module) timer() {
	defer m.wg.Done()
	tk := time.NewTicker(m.interval)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
		}
		for _, t := range m.order {
			if t.Def.AutoExpire > 0 {
				m.expireTable(t)
			}
			if t.Def.ReloadAt > 0 && time.Duration(nowNano()-t.lastReload.Load()) >= time.Duration(t.Def.ReloadAt)*time.Second {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				err := m.reload(ctx, t)
				cancel()
				if err != nil {
					m.log.Error("htable periodic reload failed, the current items stay", zap.String("htable", t.Def.Name), zap.Error(err))
					t.lastReload.Store(nowNano()) // retry at the next period, not every tick
					continue
				}
				m.event("htable:reloaded:"+t.Def.Name, nil)
			}
			select {
			case <-m.stop:
				return
			default:
			}
		}
	}
}

// expireTable removes the expired items of a table, running
// htable:expired:<table> for each first. The callback may set the item again
// (it then stays). In a Redis table only the items this node wrote raise
// the event, and only once Redis confirms they are gone (another node may
// have refreshed them): the other local copies are dropped silently.
func (m *Module) expireTable(t *Table) {
	items, owned := t.mem.expired(nowNano())
	for i, it := range items {
		fire := m.callback != ""
		if t.red != nil && fire {
			fire = owned[i]
			if fire && m.refreshFromRedis(t, it.Name) {
				continue
			}
		}
		if fire {
			m.event("htable:expired:"+t.Def.Name, &it)
		}
		t.mem.removeExpired(it.Name, nowNano())
	}
}

// refreshFromRedis reports whether Redis still holds the item, updating the
// local copy's expire if so.
func (m *Module) refreshFromRedis(t *Table, name string) bool {
	var ttl time.Duration
	if !t.try(context.Background(), func(ctx context.Context) (err error) {
		ttl, err = t.red.pttl(ctx, name)
		return err
	}) {
		return false // Redis down: trust the local copy
	}
	if ttl == -2 || ttl == 0 {
		return false
	}
	now := nowNano()
	t.mem.touch(name, func(e *entry) {
		e.expire = 0
		if ttl > 0 {
			e.expire = now + int64(ttl)
		}
	})
	return true
}
