package topos

import (
	"context"
	"time"
)

// Branch records this node writes are kept in memory for a while besides
// Redis: the replies to a request come back to the node that sent it (they
// follow its Via), so most branch loads need no Redis round trip. A branch
// record never changes once written (UpdateDialog only extends its life),
// so the copy is the record; a miss (expired here, written by another node)
// asks Redis. Dialogs are shared by every node and always come from Redis.
const (
	branchCacheTTL = 32 * time.Second // Timer B/F: a transaction's replies come within it
	branchCacheMax = 200000           // entries; past it, new branches are not cached
)

type cachedStore struct {
	Store           // the shared store
	local *memStore // branches written here
}

func newCachedStore(shared Store, clean time.Duration) *cachedStore {
	return &cachedStore{Store: shared, local: newMemStore(branchCacheMax, clean)}
}

func (c *cachedStore) CreateInitial(ctx context.Context, ns string, d *Dialog, b *Branch, ttl time.Duration) (string, error) {
	id, err := c.Store.CreateInitial(ctx, ns, d, b, ttl)
	if err == nil && id == b.DialogID {
		// (a retransmission sent again keeps the first copy's record: not ours)
		_ = c.local.PutBranch(ctx, ns, b, min(ttl, branchCacheTTL), "", 0)
	}
	return id, err
}

func (c *cachedStore) PutBranch(ctx context.Context, ns string, b *Branch, ttl time.Duration, dialogID string, dialogTTL time.Duration) error {
	err := c.Store.PutBranch(ctx, ns, b, ttl, dialogID, dialogTTL)
	if err == nil {
		_ = c.local.PutBranch(ctx, ns, b, min(ttl, branchCacheTTL), "", 0)
	}
	return err
}

func (c *cachedStore) Branch(ctx context.Context, ns, key string) (*Branch, error) {
	if b, err := c.local.Branch(ctx, ns, key); err == nil {
		return b, nil
	}
	return c.Store.Branch(ctx, ns, key)
}

func (c *cachedStore) Close() {
	c.local.Close()
	c.Store.Close()
}
