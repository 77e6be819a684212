package rie_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/rie"
)

func TestHelloWorldUnderTheEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := rie.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := rie.Install(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := rie.Build(ctx, root, out, "./internal/rie/testdata/hello"); err != nil {
		t.Fatal(err)
	}
	r, err := rie.Start(ctx, bin, filepath.Join(out, "hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 3 {
		got, err := r.Invoke(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != `"hello"` {
			t.Fatalf("invoke = %s, want \"hello\"", got)
		}
	}
	reps, err := r.WaitReports(ctx, 3)
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, r.Output())
	}
	if reps[0].Init <= 0 || reps[1].Init != 0 {
		t.Errorf("init durations %v, %v: want only the first invoke to report one", reps[0].Init, reps[1].Init)
	}
	t.Logf("hello: init %v, warm %v", reps[0].Init, reps[2].Duration)
}
