// Command headers connects to one Bitcoin node and downloads its block headers from the
// genesis block to its tip, printing progress.
//
//	headers HOST:PORT [mainnet|testnet3|testnet4|signet|regtest]   (default: regtest)
//
// Try it on the simulated network: `simnet --chain-length 10000` prints an address.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	btcclient "github.com/btcclient/btcclient-go"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: headers HOST:PORT [mainnet|testnet3|testnet4|signet|regtest]")
		os.Exit(2)
	}
	addr, network := os.Args[1], btcclient.Regtest
	if len(os.Args) == 3 {
		n, err := btcclient.ParseNetwork(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		network = n
	}
	if err := run(addr, network); err != nil {
		fmt.Fprintln(os.Stderr, "headers:", err)
		os.Exit(1)
	}
}

func run(addr string, network btcclient.Network) error {
	genesis, err := network.GenesisHash()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	height := 0
	start := time.Now()

	// Listeners run one at a time: no locks are needed for height.
	listeners := &btcclient.MessageListeners{
		OnPeerConnected: func(p *btcclient.Peer) {
			fmt.Printf("connected to %s: %s, protocol %d, height %d\n",
				p.Addr, p.UserAgent, p.ProtocolVersion, p.StartHeight)
			if err := p.SendGetHeaders([][32]byte{genesis}, [32]byte{}); err != nil {
				done <- err
			}
		},
		OnPeerDisconnected: func(p *btcclient.Peer, reason btcclient.DisconnectReason) {
			fmt.Printf("disconnected from %s: %s\n", p.Addr, reason)
		},
		OnHeaders: func(p *btcclient.Peer, headers []btcclient.BlockHeader) {
			if len(headers) == 0 {
				done <- nil
				return
			}
			height += len(headers)
			last := headers[len(headers)-1]
			fmt.Printf("height %7d  %s  %s\n", height, btcclient.HashString(last.Hash),
				last.Timestamp.UTC().Format(time.RFC3339))
			if len(headers) < btcclient.MaxHeadersPerMessage {
				done <- nil // the tip
				return
			}
			// The next batch, from the last header we have.
			if err := p.SendGetHeaders([][32]byte{last.Hash}, [32]byte{}); err != nil {
				done <- err
			}
		},
	}

	client, err := btcclient.NewBtcClient(
		btcclient.WithNetwork(network),
		btcclient.WithDiscovery(false),
		btcclient.WithMaxPeers(1),
		btcclient.WithListeners(listeners),
	)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := client.AddPeerID(ctx, addr)
	if err != nil {
		return err
	}
	if err := client.WaitConnected(ctx, id); err != nil {
		return err // a *btcclient.PeerConnectionError: which address and why
	}

	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	select {
	case err = <-done:
	case <-interrupt:
		fmt.Println("interrupted")
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	if stopErr := client.Stop(stopCtx); err == nil {
		err = stopErr
	}
	if err == nil {
		fmt.Printf("synced %d headers in %v\n", height, time.Since(start).Round(time.Millisecond))
	}
	return err
}
