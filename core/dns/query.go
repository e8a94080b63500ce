package dns

import (
	"context"
	"errors"
	"fmt"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"
)

// lookup returns the records of qtype for name, from the cache or the
// servers. ErrNotFound (wrapped) means the name or record does not exist.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) ([]mdns.RR, error) {
	fqdn := mdns.Fqdn(name)
	now := time.Now()
	if !r.cfg.NoCache {
		if recs, ok := r.cache.get(fqdn, qtype, now); ok {
			if recs == nil {
				return nil, fmt.Errorf("%s %s: %w", name, mdns.TypeToString[qtype], ErrNotFound)
			}
			return recs, nil
		}
	}
	if len(r.servers) == 0 {
		return nil, fmt.Errorf("%s %s: %w", name, mdns.TypeToString[qtype], ErrNotFound)
	}
	resp, err := r.exchange(ctx, fqdn, qtype)
	if err != nil {
		r.statFail.Inc()
		return nil, err
	}
	recs, ttl, negative := Answer(resp, fqdn, qtype)
	if negative {
		if !r.cfg.NoCache {
			neg := time.Duration(ttl) * time.Second
			if neg <= 0 || neg > r.cfg.NegTTL {
				neg = r.cfg.NegTTL
			}
			r.cache.put(fqdn, qtype, nil, neg, now)
		}
		return nil, fmt.Errorf("%s %s: %w", name, mdns.TypeToString[qtype], ErrNotFound)
	}
	if recs == nil {
		r.statFail.Inc()
		return nil, fmt.Errorf("%s %s: server answered %s", name, mdns.TypeToString[qtype], mdns.RcodeToString[resp.Rcode])
	}
	if !r.cfg.NoCache {
		d := time.Duration(ttl) * time.Second
		d = max(d, r.cfg.MinTTL)
		d = min(d, r.cfg.MaxTTL)
		r.cache.put(fqdn, qtype, recs, d, now)
	}
	return recs, nil
}

// exchange asks the servers in turn, Retries+1 rounds, within ctx. A server
// that fails (timeout, SERVFAIL, REFUSED) hands over to the next; a
// truncated UDP answer is asked again over TCP.
func (r *Resolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*mdns.Msg, error) {
	q := new(mdns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.RecursionDesired = true
	q.SetEdns0(4096, false)
	var last error
	for round := 0; round <= r.cfg.Retries; round++ {
		for _, srv := range r.servers {
			if err := ctx.Err(); err != nil {
				if last == nil {
					last = err
				}
				return nil, last
			}
			r.statQuery.Inc()
			resp, _, err := r.client.ExchangeContext(ctx, q, srv)
			if err == nil && resp != nil && resp.Truncated {
				resp, _, err = r.tcp.ExchangeContext(ctx, q, srv)
			}
			if err != nil {
				last = fmt.Errorf("dns %s: %w", srv, err)
				r.log.Debug("dns query failed", zap.String("server", srv), zap.String("name", fqdn), zap.Error(err))
				continue
			}
			if resp.Id != q.Id {
				last = fmt.Errorf("dns %s: answer id mismatch", srv)
				continue
			}
			switch resp.Rcode {
			case mdns.RcodeSuccess, mdns.RcodeNameError:
				return resp, nil
			}
			last = fmt.Errorf("dns %s: %s", srv, mdns.RcodeToString[resp.Rcode])
		}
	}
	if last == nil {
		last = errors.New("no DNS server answered")
	}
	return nil, last
}
