package btcclient

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startMicrosocks runs microsocks ($MICROSOCKS, else microsocks on the PATH) on a free port of
// 127.0.0.1 until the test ends; it returns "127.0.0.1:PORT" and a function that stops it
// earlier.
func startMicrosocks(t *testing.T) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	bin := os.Getenv("MICROSOCKS")
	if bin == "" {
		bin = "microsocks"
	}
	cmd := exec.Command(bin, "-i", "127.0.0.1", "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s (apt-get install microsocks, or set MICROSOCKS): %v", bin, err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	waitFor(t, 5*time.Second, "microsocks listening on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, stop
}

// WithProxy: microsocks carries the connection to a simnet node; once it is gone, a new peer
// cannot be reached and the error names the proxy.
func TestProxyConnectsThroughMicrosocks(t *testing.T) {
	s := needSimnet(t)
	proxy, stop := startMicrosocks(t)
	c := newTestClient(t, DeliveryPoll, &MessageListeners{},
		WithProxy(proxy), WithDNSSeeds([]string{}), WithAllowLocalAddresses(true))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctxTimeout(t, 10*time.Second))
	connect(t, c, s.addrs[0])

	stop()
	id, err := c.AddPeerID(ctxTimeout(t, 5*time.Second), s.addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	err = c.WaitConnected(ctxTimeout(t, 10*time.Second), id)
	var pce *PeerConnectionError
	if !errors.As(err, &pce) || !strings.Contains(err.Error(), "proxy "+proxy) {
		t.Fatalf("WaitConnected with the proxy gone: %v; want a *PeerConnectionError naming %s", err, proxy)
	}
	t.Logf("%v", err)
}

// Proxy options that cannot work are named the Go way; a NUL byte matches ErrInvalidArgument
// as well. An onion address without an onion proxy is refused.
func TestProxyConfigInvalid(t *testing.T) {
	cases := []struct {
		name   string
		opts   []Option
		argErr bool
	}{
		{"Proxy (WithProxy)", []Option{WithProxy("127.0.0.1:0")}, false},
		{"Proxy (WithProxy)", []Option{WithProxy("127.0.0.1")}, false},
		{"Proxy (WithProxy)", []Option{WithProxy("127.0.0.1:9050\x00")}, true},
		{"OnionProxy (WithOnionProxy)", []Option{WithOnionProxy(":9050")}, false},
		{"ProxyUsername (WithProxyAuth)", []Option{WithProxy("127.0.0.1:9050"), WithProxyAuth("alice", "")}, false},
		{"ProxyUsername (WithProxyAuth)", []Option{WithProxyAuth("alice", "secret")}, false},
		{"ProxyUsername (WithProxyAuth)", []Option{WithProxy("127.0.0.1:9050"), WithProxyAuth(strings.Repeat("u", 256), "p")}, false},
		{"OnionProxyPassword (WithOnionProxyAuth)", []Option{WithOnionProxy("127.0.0.1:9050"), WithOnionProxyAuth("u", "p\x00")}, true},
	}
	cField := func(msg string) bool { return strings.Contains(msg, "proxy_") }
	for _, tc := range cases {
		err := configRefused(t, tc.name, tc.opts, cField)
		if err != nil && errors.Is(err, ErrInvalidArgument) != tc.argErr {
			t.Errorf("%s: errors.Is(%v, ErrInvalidArgument) = %v, want %v", tc.name, err, !tc.argErr, tc.argErr)
		}
	}

	// Valid ones are taken; the client is not started, nothing is dialled.
	for _, opts := range [][]Option{
		{WithProxy("127.0.0.1:9050")},
		{WithProxy("[::1]:1080"), WithProxyAuth("alice", "secret")},
		{WithOnionProxy("127.0.0.1:9050"), WithOnionProxyAuth("u", "p")},
	} {
		c, err := NewBtcClient(opts...)
		if err != nil {
			t.Fatalf("NewBtcClient: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}

	c := newTestClient(t, DeliveryPoll, &MessageListeners{}, WithDNSSeeds([]string{}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctxTimeout(t, 10*time.Second))
	const onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:8333"
	_, err := c.AddPeerID(ctxTimeout(t, 5*time.Second), onion)
	if !errors.Is(err, ErrInvalidAddress) || !strings.Contains(err.Error(), "onion_proxy") {
		t.Fatalf("AddPeer(%s) without an onion proxy: %v; want ErrInvalidAddress", onion, err)
	}
	t.Logf("%v", err)
}
