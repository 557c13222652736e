package btcclient

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The simulated network the tests run against: the `simnet` command of crates/simnet,
// whose path is in BTCCLIENT_SIMNET (the Makefile sets it). It prints one 127.0.0.1:PORT
// per node and runs until its standard input closes.

const (
	simNodes       = 6
	simChainLength = 4500
)

var sim *simnet

type simnet struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []string
}

// startSimnet starts `simnet --nodes N --chain-length L` plus args (a fault such as
// --reset-after-ms 150); nil when BTCCLIENT_SIMNET is unset.
func startSimnet(nodes, chainLength int, args ...string) (*simnet, error) {
	path := os.Getenv("BTCCLIENT_SIMNET")
	if path == "" {
		return nil, nil
	}
	cmd := exec.Command(path, append([]string{"--nodes", fmt.Sprint(nodes),
		"--chain-length", fmt.Sprint(chainLength)}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	s := &simnet{cmd: cmd, stdin: stdin}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	timeout := time.After(20 * time.Second)
	for len(s.addrs) < nodes {
		select {
		case l, ok := <-lines:
			if !ok {
				s.close()
				return nil, fmt.Errorf("simnet exited after %d addresses", len(s.addrs))
			}
			if l != "" {
				s.addrs = append(s.addrs, l)
			}
		case <-timeout:
			s.close()
			return nil, fmt.Errorf("simnet printed %d of %d addresses in 20s", len(s.addrs), nodes)
		}
	}
	go func() {
		for range lines { // drain
		}
	}()
	return s, nil
}

func (s *simnet) close() {
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(feederEnv) == "1" {
		os.Exit(feederMain()) // the block feeder of BenchmarkDelivery (feeder_test.go)
	}
	var err error
	// Every node answers getaddr with all it knows: at Bitcoin Core's 23 %, each of these six
	// nodes names one other, and TestDiscovery's chain of answers stopped at two peers when
	// the second named the first (1 run in 5).
	sim, err = startSimnet(simNodes, simChainLength, "--getaddr-percent", "100")
	if err != nil {
		fmt.Fprintln(os.Stderr, "simnet:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopFeeder()
	if sim != nil {
		sim.close()
	}
	os.Exit(code)
}

// needSimnet skips a test that needs the simulated network when BTCCLIENT_SIMNET is unset.
func needSimnet(tb testing.TB) *simnet {
	tb.Helper()
	if sim == nil {
		tb.Skip("BTCCLIENT_SIMNET is not set (run `make test`)")
	}
	return sim
}
