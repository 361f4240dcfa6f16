package main

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The demo echoes both lines through TLS, the client's end reaches the
// server, and everything closes cleanly.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(&out); err != nil {
		t.Fatalf("runDemo: %v\n%s", err, out.String())
	}
	want := "server: end\n" +
		"server: close (had error: false)\n" +
		"client received \"hello over TLS\\nsecond line\\n\"\n"
	if got := out.String(); got != want {
		t.Errorf("demo printed:\n%s\nwant:\n%s", got, want)
	}
}
