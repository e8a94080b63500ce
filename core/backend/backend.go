// Package backend holds the connections modules share to their real
// backends: one pgx pool per PostgreSQL URL and one go-redis client per Redis
// URL, opened on first use and closed at shutdown. Modules resolve their own
// db_url/redis_url parameter against the config's global ones (Resolve).
package backend

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

var (
	mu    sync.Mutex
	pools = map[string]*pgxpool.Pool{}
	rdbs  = map[string]*redis.Client{}
)

// Resolve picks a module's own URL, else the global one.
func Resolve(own, global string) string {
	if own != "" {
		return own
	}
	return global
}

// Postgres returns the shared pool for url, connecting (and pinging, so a
// wrong URL fails at start-up with its reason) on first use.
func Postgres(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, fmt.Errorf("no PostgreSQL URL (db_url)")
	}
	mu.Lock()
	defer mu.Unlock()
	if p, ok := pools[url]; ok {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db_url: %w", err)
	}
	if cfg.MaxConns < 4 {
		cfg.MaxConns = 4
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p, err := pgxpool.NewWithConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redact(cfg.ConnConfig.Host, cfg.ConnConfig.Database), err)
	}
	if err := p.Ping(cctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("postgres %s: %w", redact(cfg.ConnConfig.Host, cfg.ConnConfig.Database), err)
	}
	pools[url] = p
	return p, nil
}

// Redis returns the shared client for url ("redis://host:port/db"), pinged
// on first use.
func Redis(ctx context.Context, url string) (*redis.Client, error) {
	if url == "" {
		return nil, fmt.Errorf("no Redis URL (redis_url)")
	}
	mu.Lock()
	defer mu.Unlock()
	if c, ok := rdbs[url]; ok {
		return c, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	opt.DialTimeout = 3 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	c := redis.NewClient(opt)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(cctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis %s db %d: %w", opt.Addr, opt.DB, err)
	}
	rdbs[url] = c
	return c, nil
}

// CloseAll closes every pool and client (server shutdown, test cleanup).
func CloseAll() {
	mu.Lock()
	defer mu.Unlock()
	for k, p := range pools {
		p.Close()
		delete(pools, k)
	}
	for k, c := range rdbs {
		_ = c.Close()
		delete(rdbs, k)
	}
}

// redact names a database without the credentials of its URL.
func redact(host, db string) string { return host + "/" + db }

// redisLog sends go-redis's own messages (failed dials, pool trouble) to zap
// at debug level: the modules log outages once, in their own words.
type redisLog struct{ log *zap.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Debug(fmt.Sprintf(format, v...))
}

// SetLogger routes the Redis client library's messages to log (once, at
// start-up); without it they go to stderr, one line per failed dial.
func SetLogger(log *zap.Logger) { redis.SetLogger(redisLog{log: log}) }
