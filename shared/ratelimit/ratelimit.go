// Package ratelimit is an in-memory token-bucket limiter keyed by string
// (a principal, a source IP). It bounds its memory by evicting the least
// recently seen keys, so a flood of distinct keys (spoofed IPs, garbage
// credentials) cannot grow it without limit. Each key's bucket is a
// golang.org/x/time/rate limiter; this package adds only the keys.
//
// In AWS each Lambda container holds its own limiter; API Gateway's stage
// throttling is the global bound there, and this one stops a single hot
// caller within a container. Limits that are product rules and must hold
// across containers live in the store instead (vsecure.RateStore).
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter hands out tokens per key: Rate per second, bursts up to Burst.
type Limiter struct {
	rate  rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element
	lru   *list.List
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// New returns a limiter; maxKeys bounds memory; now may be nil (time.Now).
func New(perSecond float64, burst int, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: rate.Limit(perSecond), burst: burst, max: maxKeys, now: now, items: map[string]*list.Element{}, lru: list.New()}
}

// Allow takes a token for key. When none is left it returns false and how
// long until one will be.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	return l.take(key, true)
}

// Peek reports whether key has a token, without taking it.
func (l *Limiter) Peek(key string) (bool, time.Duration) {
	return l.take(key, false)
}

func (l *Limiter) take(key string, consume bool) (bool, time.Duration) {
	now := l.now()
	// The map's lock also covers the bucket, so the refusal's wait is
	// computed from the same state the refusal saw.
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.bucket(key)
	if consume && lim.AllowN(now, 1) {
		return true, 0
	}
	tokens := lim.TokensAt(now)
	if !consume && tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / float64(l.rate) * float64(time.Second))
}

// bucket returns key's limiter, creating a full one and evicting the
// least recently used keys beyond max. l.mu must be held.
func (l *Limiter) bucket(key string) *rate.Limiter {
	if el, ok := l.items[key]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*bucket).lim
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.rate, l.burst)}
	l.items[key] = l.lru.PushFront(b)
	for l.lru.Len() > l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.items, old.Value.(*bucket).key)
	}
	return b.lim
}
