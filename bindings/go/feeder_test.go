package btcclient

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The block feeder of BenchmarkDelivery/block1m: a v1-only regtest node in a process of its
// own (this test binary started again with BTCCLIENT_BENCH_FEEDER=1) that answers the
// handshake and then every getdata entry with the same block of about 1 MB (4,500
// transactions of 1 input and 2 outputs, as crates/bench's throughput), written as fast as
// the socket takes it. It prints its address and runs until its standard input closes.

const feederEnv = "BTCCLIENT_BENCH_FEEDER"

var regtestMagic = [4]byte{0xfa, 0xbf, 0xb5, 0xda}

// wireFrame returns a v1 message: magic, command, length, checksum, payload.
func wireFrame(command string, payload []byte) []byte {
	f := make([]byte, 24, 24+len(payload))
	copy(f, regtestMagic[:])
	copy(f[4:16], command)
	binary.LittleEndian.PutUint32(f[16:], uint32(len(payload)))
	h1 := sha256.Sum256(payload)
	h2 := sha256.Sum256(h1[:])
	copy(f[20:24], h2[:4])
	return append(f, payload...)
}

func appendVarInt(b []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), n)
}

// bigBlock serializes a block of about 1 MB: ~4,500 transactions of 1 input (107-byte
// script) and 2 outputs (22-byte scripts), 220 bytes each.
func bigBlock() []byte {
	var txs []byte
	n := 0
	for 80+5+len(txs) < 1_000_000 {
		tx := binary.LittleEndian.AppendUint32(nil, 2) // version
		tx = append(tx, 1)                             // inputs
		prev := [32]byte{}
		for i := range prev {
			prev[i] = byte(n % 251)
		}
		tx = append(tx, prev[:]...)
		tx = binary.LittleEndian.AppendUint32(tx, uint32(n))
		tx = appendVarInt(tx, 107)
		tx = append(tx, make([]byte, 107)...)
		for i := len(tx) - 107; i < len(tx); i++ {
			tx[i] = 0x51
		}
		tx = binary.LittleEndian.AppendUint32(tx, 0xffffffff) // sequence
		tx = append(tx, 2)                                    // outputs
		for o := 0; o < 2; o++ {
			tx = binary.LittleEndian.AppendUint64(tx, uint64(n)+1000)
			tx = appendVarInt(tx, 22)
			tx = append(tx, make([]byte, 22)...)
		}
		tx = binary.LittleEndian.AppendUint32(tx, 0) // lock time
		txs = append(txs, tx...)
		n++
	}
	block := binary.LittleEndian.AppendUint32(nil, 2) // version
	block = append(block, make([]byte, 64)...)        // previous block, merkle root
	block = binary.LittleEndian.AppendUint32(block, 1_700_000_000)
	block = binary.LittleEndian.AppendUint32(block, 0x207fffff)
	block = binary.LittleEndian.AppendUint32(block, 0)
	block = appendVarInt(block, uint64(n))
	return append(block, txs...)
}

// feederVersion is the feeder's version message.
func feederVersion() []byte {
	v := binary.LittleEndian.AppendUint32(nil, 70016)
	v = binary.LittleEndian.AppendUint64(v, 1|8) // NODE_NETWORK | NODE_WITNESS
	v = binary.LittleEndian.AppendUint64(v, uint64(time.Now().Unix()))
	for i := 0; i < 2; i++ { // addr_recv, addr_from: services, IPv6, port
		v = append(v, make([]byte, 26)...)
	}
	v = binary.LittleEndian.AppendUint64(v, 0x5eed)
	v = appendVarInt(v, uint64(len("/feeder:0/")))
	v = append(v, "/feeder:0/"...)
	v = binary.LittleEndian.AppendUint32(v, 1) // start height
	return append(v, 1)                        // relay
}

func feederServe(conn net.Conn, block []byte) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	var h [24]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		cmd := strings.TrimRight(string(h[4:16]), "\x00")
		payload := make([]byte, binary.LittleEndian.Uint32(h[16:20]))
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		var out []byte
		switch cmd {
		case "version":
			out = append(wireFrame("version", feederVersion()), wireFrame("verack", nil)...)
		case "ping":
			out = wireFrame("pong", payload)
		case "getdata":
			// Every entry gets the block (the benchmark asks for the same hash N times).
			n, p := uint64(0), payload
			if len(p) > 0 {
				switch p[0] {
				case 0xfd:
					n, p = uint64(binary.LittleEndian.Uint16(p[1:])), p[3:]
				case 0xfe:
					n, p = uint64(binary.LittleEndian.Uint32(p[1:])), p[5:]
				default:
					n, p = uint64(p[0]), p[1:]
				}
			}
			for i := uint64(0); i < n; i++ {
				if _, err := conn.Write(block); err != nil {
					return
				}
			}
		}
		if out != nil {
			if _, err := conn.Write(out); err != nil {
				return
			}
		}
	}
}

// feederMain runs the feeder process.
func feederMain() int {
	block := wireFrame("block", bigBlock())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "feeder:", err)
		return 1
	}
	fmt.Println(l.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			return 1
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		go feederServe(conn, block)
	}
}

var feeder struct {
	once sync.Once
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string
	err  error
}

// feederAddr starts the feeder process (once) and returns its address.
func feederAddr(tb testing.TB) string {
	tb.Helper()
	feeder.once.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), feederEnv+"=1")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			feeder.err = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			feeder.err = err
			return
		}
		if err := cmd.Start(); err != nil {
			feeder.err = err
			return
		}
		feeder.cmd, feeder.in = cmd, in
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			feeder.err = fmt.Errorf("feeder printed no address: %w", err)
			return
		}
		feeder.addr = strings.TrimSpace(line)
	})
	if feeder.err != nil {
		tb.Fatal(feeder.err)
	}
	return feeder.addr
}

// stopFeeder ends the feeder process, if it was started.
func stopFeeder() {
	if feeder.cmd == nil {
		return
	}
	_ = feeder.in.Close()
	done := make(chan struct{})
	go func() { _ = feeder.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = feeder.cmd.Process.Kill()
		<-done
	}
}
