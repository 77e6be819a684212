package ratelimit

import (
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
)

func TestLimiter(t *testing.T) {
	clk := testclock.New(time.Unix(0, 0))
	l := New(10, 5, 100, clk.Now)
	t.Run("burst_then_refused_with_wait", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if ok, _ := l.Allow("a"); !ok {
				t.Fatalf("call %d refused within burst", i)
			}
		}
		ok, wait := l.Allow("a")
		if ok || wait <= 0 || wait > 100*time.Millisecond {
			t.Fatalf("6th call: ok=%v wait=%v", ok, wait)
		}
	})
	t.Run("keys_are_independent", func(t *testing.T) {
		if ok, _ := l.Allow("b"); !ok {
			t.Fatal("b refused because of a")
		}
	})
	t.Run("refills_at_rate", func(t *testing.T) {
		clk.Advance(100 * time.Millisecond)
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("no token after 1/rate")
		}
		if ok, _ := l.Allow("a"); ok {
			t.Fatal("two tokens after 1/rate")
		}
	})
	t.Run("peek_does_not_consume", func(t *testing.T) {
		clk.Advance(time.Second)
		for i := 0; i < 10; i++ {
			if ok, _ := l.Peek("a"); !ok {
				t.Fatal("peek refused")
			}
		}
	})
	t.Run("memory_is_bounded", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			l.Allow(string(rune(i + 1000)))
		}
		if n := l.lru.Len(); n != 100 {
			t.Fatalf("%d keys kept, want 100", n)
		}
	})
}

func TestLimiterConcurrent(t *testing.T) {
	l := New(0.0001, 50, 10, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			for j := 0; j < 10; j++ {
				if ok, _ := l.Allow("k"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d of 200 concurrent calls, want exactly the burst of 50", allowed)
	}
}
