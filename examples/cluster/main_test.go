//go:build unix

// The example is unix only (main.go says why), and so is its test.

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The demo, built and run as a real pair of processes: the parent answers
// the first connection, the child every one after the hand-over, and the
// child exits cleanly when the parent closes the channel.
func TestDemo(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the example")
	}
	bin := filepath.Join(t.TempDir(), "cluster")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-demo", "-n", "3")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}

	// The pids and the port vary; the rest of the output is fixed.
	out := stdout.String()
	m := regexp.MustCompile(`^parent (\d+) listening on 127\.0\.0\.1:(\d+)\n`).FindStringSubmatch(out)
	c := regexp.MustCompile(`handed the server to child (\d+)\n`).FindStringSubmatch(out)
	if m == nil || c == nil {
		t.Fatalf("no parent pid, port or child pid in the output:\n%s\nstderr:\n%s", out, &stderr)
	}
	parent, port, child := m[1], m[2], c[1]
	if parent == child {
		t.Fatalf("parent and child have the same pid %s", parent)
	}
	var want strings.Builder
	fmt.Fprintf(&want, "parent %s listening on 127.0.0.1:%s\n", parent, port)
	fmt.Fprintf(&want, "connection 1: parent %s answered, echoed %q\n", parent, "hello 1\n")
	fmt.Fprintf(&want, "parent %s handed the server to child %s\n", parent, child)
	fmt.Fprintf(&want, "parent %s closed its server\n", parent)
	for i := 2; i <= 4; i++ {
		fmt.Fprintf(&want, "connection %d: child %s answered, echoed %q\n", i, child, fmt.Sprintf("hello %d\n", i))
	}
	fmt.Fprintf(&want, "child %s exited\n", child)
	if out != want.String() {
		t.Errorf("demo printed:\n%s\nwant:\n%s\nstderr:\n%s", out, want.String(), &stderr)
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("child %s: serving 127.0.0.1:%s", child, port)) {
		t.Errorf("the child did not log that it serves the port; stderr:\n%s", &stderr)
	}
}
