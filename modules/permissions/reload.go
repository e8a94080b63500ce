package permissions

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// Reloads build a complete new table from the source and only then swap
// it in with one atomic store: requests being matched keep the table they
// started with, the next ones see the new one, and a load that fails (an
// unreadable file, a bad row, the database down) leaves the old table in
// place and returns why.

func (p *Permissions) reloadAddress(ctx context.Context) error {
	start := time.Now()
	rows, err := p.addrSrc.loadAddresses(ctx)
	if err != nil {
		return err
	}
	t, err := buildAddrTable(rows, p.maxSubnets)
	if err != nil {
		return err
	}
	p.addr.Store(t)
	p.log.Info("permissions: address table loaded", zap.String("source", p.addrSrc.describe()),
		zap.Int("addresses", t.nExact), zap.Int("subnets", t.nSubnet), zap.Int("domains", t.nDomain),
		zap.Duration("took", time.Since(start)))
	return nil
}

func (p *Permissions) reloadTrusted(ctx context.Context) error {
	if p.trustQuery != nil {
		return errors.New("db_mode is 0: the trusted table is read on every call, not cached")
	}
	start := time.Now()
	rows, err := p.trustSrc.loadTrusted(ctx)
	if err != nil {
		return err
	}
	entries, err := buildTrustedEntries(rows, compileTrustedPattern)
	if err != nil {
		return err
	}
	p.trusted.Store(newTrustedTable(entries))
	p.log.Info("permissions: trusted table loaded", zap.String("source", p.trustSrc.describe()),
		zap.Int("entries", len(entries)), zap.Duration("took", time.Since(start)))
	return nil
}

// errTooSoon is the rate limit of RPC reloads (reload_delta).
var errTooSoon = errors.New("ongoing reload")

// rpcReload runs one RPC reload at a time, at most one per reload_delta
// (for both tables together, as in Kamailio).
func (p *Permissions) rpcReload(ctx context.Context, what string, load func(context.Context) error) error {
	if !p.reloadMu.TryLock() {
		return errTooSoon
	}
	defer p.reloadMu.Unlock()
	if p.reloadDelta > 0 && !p.lastReload.IsZero() && time.Since(p.lastReload) < p.reloadDelta {
		return errTooSoon
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := load(ctx)
	p.lastReload = time.Now()
	if err != nil {
		p.log.Error("permissions: reload failed, the loaded table stays", zap.String("table", what), zap.Error(err))
	}
	return err
}
