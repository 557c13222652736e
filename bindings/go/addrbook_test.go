package btcclient

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Bitcoin Core 29 mainnet peers.dat of the C tests: 8 new and 2 tried entries, of which
// 4 new and 2 tried are addresses the book takes.
const peersDatFixture = "../../tests/fixtures/peers-core29-mainnet.dat"

func TestAddressBookConfigDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.TargetOutbound != 0 || c.DNSSeeds != nil || c.AddressBookPath != "" {
		t.Fatalf("TargetOutbound %d, DNSSeeds %#v, AddressBookPath %q: want 0, nil, \"\"",
			c.TargetOutbound, c.DNSSeeds, c.AddressBookPath)
	}
	var cfg Config
	WithDNSSeeds([]string{})(&cfg)
	if cfg.DNSSeeds == nil || len(cfg.DNSSeeds) != 0 {
		t.Fatalf("WithDNSSeeds([]string{}) = %#v, want an empty non-nil slice", cfg.DNSSeeds)
	}
	WithDNSSeeds(nil)(&cfg)
	if cfg.DNSSeeds != nil {
		t.Fatalf("WithDNSSeeds(nil) = %#v, want nil", cfg.DNSSeeds)
	}
	// Valid values are taken (the client is not started: no seed is asked).
	for _, opts := range [][]Option{
		{WithDNSSeeds(nil)},
		{WithDNSSeeds([]string{})},
		{WithDNSSeeds([]string{"seed.example.org", "seed2.example.org"})},
		{WithMaxPeers(8), WithTargetOutbound(8)},
		{WithAddressBookPath(filepath.Join(t.TempDir(), "book.dat"))},
	} {
		c, err := NewBtcClient(opts...)
		if err != nil {
			t.Fatalf("NewBtcClient: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Invalid address book options are named the Go way; a NUL byte matches ErrInvalidArgument
// as well.
func TestAddressBookConfigInvalid(t *testing.T) {
	cases := []struct {
		name   string
		opts   []Option
		argErr bool
	}{
		{"TargetOutbound (WithTargetOutbound)", []Option{WithMaxPeers(4), WithTargetOutbound(5)}, false},
		{"TargetOutbound (WithTargetOutbound)", []Option{WithTargetOutbound(-1)}, false},
		{"DNSSeeds (WithDNSSeeds)", []Option{WithDNSSeeds([]string{"a.example.org,b.example.org"})}, false},
		{"DNSSeeds (WithDNSSeeds)", []Option{WithDNSSeeds([]string{""})}, false},
		{"DNSSeeds (WithDNSSeeds)", []Option{WithDNSSeeds([]string{"a.example.org", " "})}, false},
		{"DNSSeeds (WithDNSSeeds)", []Option{WithDNSSeeds([]string{"bad seed"})}, false},
		{"DNSSeeds (WithDNSSeeds)", []Option{WithDNSSeeds([]string{"a.example.org\x00b"})}, true},
		{"AddressBookPath (WithAddressBookPath)", []Option{WithAddressBookPath("/tmp/book\x00x")}, true},
		{"AddressBookPath (WithAddressBookPath)", []Option{WithAddressBookPath("/tmp/\xffbook")}, false},
	}
	cField := func(msg string) bool {
		return strings.Contains(msg, "target_outbound") || strings.Contains(msg, "dns_seeds") ||
			strings.Contains(msg, "max_peers")
	}
	for _, tc := range cases {
		err := configRefused(t, tc.name, tc.opts, cField)
		if err != nil && errors.Is(err, ErrInvalidArgument) != tc.argErr {
			t.Errorf("%s: errors.Is(%v, ErrInvalidArgument) = %v, want %v", tc.name, err, !tc.argErr, tc.argErr)
		}
	}
}

// A Core peers.dat imported into a client that is not started: 6 addresses added, seen in
// the snapshot with their groups.
//
// The book's bucketing key is random per client, so two of the fixture's addresses can land
// in the same slot (the later one replaces the earlier, or a tried entry goes to new): seen in
// about 1 run of 20, with ImportPeersDat still returning 6. Every attempt is checked for what
// holds in any layout; a fresh client is tried (up to 8) until the layout has no collision,
// which then shows exactly 4 new and 2 tried.
func TestImportPeersDat(t *testing.T) {
	for attempt := 1; ; attempt++ {
		book := importFixture(t)
		if book.New == 4 && book.Tried == 2 {
			groups := map[string]GroupCount{}
			for _, g := range book.Groups {
				groups[g.Group] = g
			}
			for _, name := range []string{"1.1.0.0/16", "2a01:4f8::/32"} {
				if g, ok := groups[name]; !ok || g.Tried != 1 || g.New != 0 {
					t.Fatalf("group %s = %+v (found %v), want 1 tried; groups %+v", name, g, ok, book.Groups)
				}
			}
			t.Logf("attempt %d: %d groups: %+v", attempt, len(book.Groups), book.Groups)
			return
		}
		t.Logf("attempt %d: a slot collision in this client's layout: New %d, Tried %d", attempt, book.New, book.Tried)
		if attempt == 8 {
			t.Fatalf("8 fresh clients, none without a collision: last book %+v", book)
		}
	}
}

// importFixture imports the fixture into a fresh mainnet client (not started, no DNS seeds)
// and checks what holds whatever the book's random layout: 6 added, or 5 when two met in one
// slot (the count is what the book holds), the groups summing to the tables, both tried
// entries' groups present.
func importFixture(t *testing.T) AddressBookStats {
	t.Helper()
	c, err := NewBtcClient(WithNetwork(Mainnet), WithDNSSeeds([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	book, err := c.AddressBook()
	if err != nil || book.New != 0 || book.Tried != 0 || len(book.Groups) != 0 {
		t.Fatalf("empty book: %+v, %v", book, err)
	}
	n, err := c.ImportPeersDat(peersDatFixture)
	if err != nil || n < 5 || n > 6 {
		t.Fatalf("ImportPeersDat(%s) = %d, %v; want 6 (5 after a slot collision)", peersDatFixture, n, err)
	}
	book, err = c.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	if n != book.New+book.Tried {
		t.Fatalf("ImportPeersDat added %d, the book holds %d new and %d tried", n, book.New, book.Tried)
	}
	if book.New+book.Tried < 5 || book.New+book.Tried > 6 || book.Tried < 1 || book.Tried > 2 {
		t.Fatalf("book after import: New %d, Tried %d; want 4 and 2, at worst one collision (%+v)",
			book.New, book.Tried, book)
	}
	groups := map[string]bool{}
	var sumNew, sumTried int
	for _, g := range book.Groups {
		if g.Group == "" {
			t.Fatalf("a group without a name in %+v", book.Groups)
		}
		groups[g.Group] = true
		sumNew += g.New
		sumTried += g.Tried
	}
	if sumNew != book.New || sumTried != book.Tried {
		t.Fatalf("groups sum to New %d, Tried %d, the book has %d, %d: %+v", sumNew, sumTried,
			book.New, book.Tried, book.Groups)
	}
	if !groups["1.1.0.0/16"] || !groups["2a01:4f8::/32"] {
		t.Fatalf("groups %+v lack 1.1.0.0/16 or 2a01:4f8::/32", book.Groups)
	}
	return book
}

func TestImportPeersDatErrors(t *testing.T) {
	c, err := NewBtcClient(WithNetwork(Mainnet), WithDNSSeeds([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-peers.dat")
	n, err := c.ImportPeersDat(missing)
	if !errors.Is(err, ErrPeersDat) || n != 0 || !strings.Contains(err.Error(), missing) {
		t.Fatalf("ImportPeersDat(missing) = %d, %v; want ErrPeersDat naming %s", n, err, missing)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status.String() == "" {
		t.Fatalf("ImportPeersDat(missing): %#v is not an *Error with a status", err)
	}
	t.Logf("missing file: %v (status %q)", err, e.Status)
	if _, err := c.ImportPeersDat("/proc/self/status"); !errors.Is(err, ErrPeersDat) {
		t.Fatalf("ImportPeersDat(not a peers.dat) = %v, want ErrPeersDat", err)
	}
	if _, err := c.ImportPeersDat(peersDatFixture + "\x00junk"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ImportPeersDat with a NUL = %v, want ErrInvalidArgument", err)
	}
	if book, err := c.AddressBook(); err != nil || book.New+book.Tried != 0 {
		t.Fatalf("book after failed imports: %+v, %v; want empty", book, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportPeersDat(peersDatFixture); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("ImportPeersDat after Close = %v, want ErrClientClosed", err)
	}
	if _, err := c.AddressBook(); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("AddressBook after Close = %v, want ErrClientClosed", err)
	}
}

// A client with an address book file remembers the node it connected to: the next client
// with the same file starts with it in the tried table.
func TestAddressBookPersistence(t *testing.T) {
	s := needSimnet(t)
	path := filepath.Join(t.TempDir(), "book.dat")
	opts := []Option{WithAddressBookPath(path), WithDNSSeeds([]string{}), WithAllowLocalAddresses(true)}

	first := newTestClient(t, DeliveryPoll, &MessageListeners{}, opts...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	connect(t, first, s.addrs[0])
	if err := first.Stop(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if book, err := first.AddressBook(); err != nil || book.Tried != 1 {
		t.Fatalf("first client's book after Stop: %+v, %v; want Tried 1", book, err)
	}

	second := newTestClient(t, DeliveryPoll, &MessageListeners{}, opts...)
	if book, err := second.AddressBook(); err != nil || book.New+book.Tried != 0 {
		t.Fatalf("second client's book before Start: %+v, %v; want empty (loaded at Start)", book, err)
	}
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	book, err := second.AddressBook()
	if err != nil || book.Tried != 1 {
		t.Fatalf("second client's book after Start: %+v, %v; want Tried 1", book, err)
	}
	t.Logf("restarted book: %+v", book)
	if err := second.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
