// Package ratelimit is an in-memory token-bucket limiter keyed by string
// (a principal, a source IP). It bounds its memory by evicting the least
// recently seen keys, so a flood of distinct keys (spoofed IPs, garbage
// credentials) cannot grow it without limit.
//
// In AWS each Lambda container holds its own limiter; API Gateway's stage
// throttling is the global bound there, and this one stops a single hot
// caller within a container. Locally it is the whole story.
package ratelimit

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// Limiter hands out tokens per key: Rate per second, bursts up to Burst.
type Limiter struct {
	rate  float64
	burst float64
	max   int
	now   func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element
	lru   *list.List
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// New returns a limiter; maxKeys bounds memory; now may be nil (time.Now).
func New(rate float64, burst int, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: rate, burst: float64(burst), max: maxKeys, now: now, items: map[string]*list.Element{}, lru: list.New()}
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
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if el, ok := l.items[key]; ok {
		l.lru.MoveToFront(el)
		b = el.Value.(*bucket)
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	} else {
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.items[key] = l.lru.PushFront(b)
		for l.lru.Len() > l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.items, old.Value.(*bucket).key)
		}
	}
	if b.tokens >= 1 {
		if consume {
			b.tokens--
		}
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}
