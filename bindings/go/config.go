package btcclient

/*
#include <stdlib.h>
#include <btcclient.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Network is the Bitcoin network a client speaks: Mainnet, Testnet3, Testnet4, Signet,
// Regtest, or a private one made with CustomNetwork. Networks are comparable with ==.
type Network struct {
	id    uint32
	magic [4]byte
}

// The public networks.
var (
	Mainnet  = Network{id: C.BTCCLIENT_NETWORK_MAINNET, magic: [4]byte{0xf9, 0xbe, 0xb4, 0xd9}}
	Testnet3 = Network{id: C.BTCCLIENT_NETWORK_TESTNET3, magic: [4]byte{0x0b, 0x11, 0x09, 0x07}}
	Testnet4 = Network{id: C.BTCCLIENT_NETWORK_TESTNET4, magic: [4]byte{0x1c, 0x16, 0x3f, 0x28}}
	Signet   = Network{id: C.BTCCLIENT_NETWORK_SIGNET, magic: [4]byte{0x0a, 0x03, 0xcf, 0x40}}
	Regtest  = Network{id: C.BTCCLIENT_NETWORK_REGTEST, magic: [4]byte{0xfa, 0xbf, 0xb5, 0xda}}
)

// CustomNetwork is a private network identified by its magic bytes (wire order, not all
// zero).
func CustomNetwork(magic [4]byte) Network {
	return Network{id: C.BTCCLIENT_NETWORK_CUSTOM, magic: magic}
}

// Magic returns the network's magic bytes in wire order.
func (n Network) Magic() [4]byte { return n.magic }

// IsCustom reports whether n was made with CustomNetwork.
func (n Network) IsCustom() bool { return n.id == C.BTCCLIENT_NETWORK_CUSTOM }

func (n Network) String() string {
	switch n.id {
	case C.BTCCLIENT_NETWORK_MAINNET:
		return "mainnet"
	case C.BTCCLIENT_NETWORK_TESTNET3:
		return "testnet3"
	case C.BTCCLIENT_NETWORK_TESTNET4:
		return "testnet4"
	case C.BTCCLIENT_NETWORK_SIGNET:
		return "signet"
	case C.BTCCLIENT_NETWORK_REGTEST:
		return "regtest"
	default:
		return fmt.Sprintf("custom(%x)", n.magic)
	}
}

// DefaultPort returns the network's usual P2P port (0 for a custom network).
func (n Network) DefaultPort() uint16 {
	switch n.id {
	case C.BTCCLIENT_NETWORK_MAINNET:
		return 8333
	case C.BTCCLIENT_NETWORK_TESTNET3:
		return 18333
	case C.BTCCLIENT_NETWORK_TESTNET4:
		return 48333
	case C.BTCCLIENT_NETWORK_SIGNET:
		return 38333
	case C.BTCCLIENT_NETWORK_REGTEST:
		return 18444
	default:
		return 0
	}
}

// GenesisHash returns the hash of the network's genesis block (internal byte order): the
// first locator of a headers sync. ErrInvalidArgument for a custom network.
func (n Network) GenesisHash() ([32]byte, error) {
	var h [32]byte
	st := C.btcclient_genesis_hash(C.uint32_t(n.id), (*C.uint8_t)(unsafe.Pointer(&h[0])))
	if st != C.BTCCLIENT_STATUS_OK {
		return h, newError(Status(st), "no genesis hash for network "+n.String())
	}
	return h, nil
}

// ParseNetwork returns the network named "mainnet" (or "main"), "testnet3" (or "testnet"),
// "testnet4", "signet" or "regtest".
func ParseNetwork(name string) (Network, error) {
	switch name {
	case "mainnet", "main", "bitcoin":
		return Mainnet, nil
	case "testnet3", "testnet":
		return Testnet3, nil
	case "testnet4":
		return Testnet4, nil
	case "signet":
		return Signet, nil
	case "regtest":
		return Regtest, nil
	}
	return Network{}, fmt.Errorf("%w: unknown network %q", ErrInvalidArgument, name)
}

// Delivery selects how events reach the listeners. Every mode calls a given peer's
// listeners one at a time, in the order its messages arrived.
type Delivery int

const (
	// DeliveryPoll (the default): the library queues events; one goroutine of this package
	// takes them (btcclient_poll_next, in batches) and calls the listeners one at a time.
	// No C-to-Go calls; it measured fastest (see the README).
	DeliveryPoll Delivery = iota
	// DeliveryCallbacks: the library calls exported Go functions from its dispatcher thread,
	// one at a time (btcclient_listeners with a runtime/cgo.Handle as user_data).
	DeliveryCallbacks
	// DeliveryConcurrent: like DeliveryCallbacks, but peers are delivered in parallel from a
	// pool of threads (one at a time per peer): a slow listener slows only its own peer.
	// Listeners must be safe for concurrent use.
	DeliveryConcurrent
)

func (d Delivery) String() string {
	switch d {
	case DeliveryPoll:
		return "poll"
	case DeliveryCallbacks:
		return "callbacks"
	case DeliveryConcurrent:
		return "concurrent"
	}
	return fmt.Sprintf("Delivery(%d)", int(d))
}

// Transport selects the transport spoken to peers: BIP324 v2 (encrypted) or v1 (plaintext).
type Transport int

const (
	// TransportV2Preferred (the default): v2 to peers added with AddPeer and to discovered
	// addresses that advertise NODE_P2P_V2, v1 to the others. A peer that closes on our v2
	// key without sending a byte is dialled again at once over v1 (not a failure) and spoken
	// to over v1 from then on, as Bitcoin Core does.
	TransportV2Preferred Transport = C.BTCCLIENT_TRANSPORT_V2_PREFERRED
	// TransportV1Only: plaintext v1 only.
	TransportV1Only Transport = C.BTCCLIENT_TRANSPORT_V1_ONLY
	// TransportV2Only: v2 only; a peer that does not speak v2 fails to connect.
	TransportV2Only Transport = C.BTCCLIENT_TRANSPORT_V2_ONLY
)

func (t Transport) String() string {
	switch t {
	case TransportV2Preferred:
		return "v2-preferred"
	case TransportV1Only:
		return "v1"
	case TransportV2Only:
		return "v2"
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

// Config is the configuration of a client. Start from DefaultConfig (NewBtcClient applies
// its options over it); NewBtcClient validates it and names the field that is out of range
// (ErrInvalidConfig).
type Config struct {
	// Network to connect to. Default Mainnet.
	Network Network
	// MaxPeers is the most peers managed at once, added and discovered (1..100000).
	// Default 30.
	MaxPeers int
	// MaxFailureCount is the number of consecutive failures after which a peer is
	// Unhealthy (at least 1). Default 10.
	MaxFailureCount int
	// HealthCheckInterval is how often the health check runs. Default 30s.
	HealthCheckInterval time.Duration
	// ReconnectDelay is the delay before reconnecting, the first step of the backoff.
	// Default 5s.
	ReconnectDelay time.Duration
	// BackoffMax is the largest reconnect delay of the exponential backoff (at least
	// ReconnectDelay); 0 selects a fixed delay of ReconnectDelay. Default 10m.
	BackoffMax time.Duration
	// ConnectionTimeout is the TCP connect timeout. Default 10s.
	ConnectionTimeout time.Duration
	// HandshakeTimeout is the time allowed for the version/verack handshake. Default 60s.
	HandshakeTimeout time.Duration
	// PingInterval is the interval between pings. Default 2m.
	PingInterval time.Duration
	// PongTimeout disconnects a peer whose ping has no pong for this long. Default 20m.
	PongTimeout time.Duration
	// WriteTimeout disconnects a peer that does not take our bytes for this long.
	// Default 2m.
	WriteTimeout time.Duration
	// StableAfter is how long a connection must stay up after its handshake to count as
	// stable: only then do the failure streak and the backoff reset; a connection that ends
	// sooner counts as a failed attempt (OnAttemptFailed). At most 24h; 0 makes every
	// connection stable at once. Default 1m.
	StableAfter time.Duration
	// UserAgent sent in our version message (BIP14 form, e.g. "/myapp:1.0/"); empty
	// selects the library's "/btcclient:VERSION/".
	UserAgent string
	// Services are the service bits we advertise. Default 0 (we serve no blocks).
	Services uint64
	// Relay is the relay flag of our version message (BIP37). Default true.
	Relay bool
	// AllowLocalAddresses dials discovered loopback/private addresses and skips the
	// one-peer-per-network-group rule (regtest, simulated networks). Default false.
	AllowLocalAddresses bool
	// Discovery puts the addresses of addr/addrv2 answers to our getaddr (and of the DNS
	// seeds, when the address book is short) into the address book, and keeps TargetOutbound
	// peers drawn from it connected. Default true.
	Discovery bool
	// MaxMessageSize is the largest message payload accepted or sent
	// (1000..33554432). Default 4000000.
	MaxMessageSize int
	// SendQueueBytes is the number of bytes that may wait in one peer's send queue (at
	// least MaxMessageSize+24). Default 16 MiB.
	SendQueueBytes int
	// SendQueueLen is the number of messages that may wait in one peer's send queue (at
	// least 1); beyond it sends fail with ErrQueueFull. Default 1024.
	SendQueueLen int
	// EventQueueLen is the number of events that may wait for the listeners before the
	// peers' reading pauses (at least 1). Default 256.
	EventQueueLen int
	// Delivery selects how events reach the listeners. Default DeliveryPoll.
	Delivery Delivery
	// TargetOutbound is the number of discovered peers to keep connected, drawn from the
	// address book, at most one per network group (at most MaxPeers; peers added with
	// AddPeer come on top, within MaxPeers). 0 fills up to MaxPeers. Default 0. Bitcoin
	// Core keeps 8.
	TargetOutbound int
	// DNSSeeds are the DNS seeds (host names) asked when the address book is short. nil
	// asks the network's seeds (Bitcoin Core's list; none on regtest); an empty non-nil
	// slice ([]string{}) asks none. A seed may not be empty nor contain a comma or a NUL
	// byte. Default nil.
	DNSSeeds []string
	// AddressBookPath is a file the address book is loaded from at Start and saved to
	// periodically and at Stop (atomically; a damaged file is moved aside and the book
	// starts empty). "" keeps the book in memory only. Default "".
	AddressBookPath string
	// Transport is the transport spoken to peers. Default TransportV2Preferred.
	Transport Transport
	// Listeners are the functions called for messages and peer events. NewBtcClient copies
	// the struct: changing it later has no effect.
	Listeners *MessageListeners
	// Proxy is a SOCKS5 proxy for every connection, "HOST:PORT" ("127.0.0.1:9050",
	// "[::1]:1080"): peers named by host name are resolved by the proxy (never locally), DNS
	// seeds are asked through it, and onion addresses go through it unless OnionProxy is
	// set. "" (the default) connects directly.
	Proxy string
	// ProxyUsername and ProxyPassword authenticate to Proxy (1 to 255 bytes each, both or
	// neither). Both "" (the default): fresh random credentials for every connection,
	// offered beside "no authentication" (Tor then puts each connection on its own circuit).
	ProxyUsername, ProxyPassword string
	// OnionProxy is a SOCKS5 proxy for Tor onion addresses only ("127.0.0.1:9050" for a
	// local Tor). "" (the default) uses Proxy; with neither, onion addresses are refused.
	OnionProxy string
	// OnionProxyUsername and OnionProxyPassword authenticate to OnionProxy, as
	// ProxyUsername and ProxyPassword do to Proxy.
	OnionProxyUsername, OnionProxyPassword string
}

// DefaultConfig returns the default configuration (the library's defaults).
func DefaultConfig() Config {
	var c C.btcclient_config
	C.btcclient_config_default(&c, C.size_t(unsafe.Sizeof(c)))
	return Config{
		Network:             Mainnet,
		MaxPeers:            int(c.max_peers),
		MaxFailureCount:     int(c.max_failure_count),
		HealthCheckInterval: millis(c.health_check_interval_ms),
		ReconnectDelay:      millis(c.reconnect_delay_ms),
		BackoffMax:          millis(c.backoff_max_ms),
		ConnectionTimeout:   millis(c.connection_timeout_ms),
		HandshakeTimeout:    millis(c.handshake_timeout_ms),
		PingInterval:        millis(c.ping_interval_ms),
		PongTimeout:         millis(c.pong_timeout_ms),
		WriteTimeout:        millis(c.write_timeout_ms),
		StableAfter:         millis(c.stable_after_ms),
		Services:            uint64(c.services),
		Relay:               bool(c.relay),
		AllowLocalAddresses: bool(c.allow_local_addresses),
		Discovery:           bool(c.discovery),
		MaxMessageSize:      int(c.max_message_size),
		SendQueueBytes:      int(c.send_queue_bytes),
		SendQueueLen:        int(c.send_queue_len),
		EventQueueLen:       int(c.event_queue_len),
		Delivery:            DeliveryPoll,
		TargetOutbound:      int(c.target_outbound),
		Transport:           Transport(c.transport),
		Listeners:           &MessageListeners{},
	}
}

func millis(ms C.uint64_t) time.Duration { return time.Duration(ms) * time.Millisecond }

// Option changes one field of a Config.
type Option func(*Config)

// WithConfig replaces the whole configuration (options after it still apply).
func WithConfig(cfg Config) Option { return func(c *Config) { *c = cfg } }

// WithNetwork sets the network (Mainnet, Testnet3, Testnet4, Signet, Regtest or a
// CustomNetwork).
func WithNetwork(n Network) Option { return func(c *Config) { c.Network = n } }

// WithMaxPeers sets the peer limit.
func WithMaxPeers(n int) Option { return func(c *Config) { c.MaxPeers = n } }

// WithMaxFailureCount sets the consecutive failures after which a peer is Unhealthy.
func WithMaxFailureCount(n int) Option { return func(c *Config) { c.MaxFailureCount = n } }

// WithHealthCheckInterval sets how often the health check runs.
func WithHealthCheckInterval(d time.Duration) Option {
	return func(c *Config) { c.HealthCheckInterval = d }
}

// WithReconnectDelay sets the delay before reconnecting (the first backoff step).
func WithReconnectDelay(d time.Duration) Option { return func(c *Config) { c.ReconnectDelay = d } }

// WithBackoffMax sets the largest reconnect delay (0: a fixed ReconnectDelay).
func WithBackoffMax(d time.Duration) Option { return func(c *Config) { c.BackoffMax = d } }

// WithConnectionTimeout sets the TCP connect timeout.
func WithConnectionTimeout(d time.Duration) Option {
	return func(c *Config) { c.ConnectionTimeout = d }
}

// WithHandshakeTimeout sets the time allowed for the version/verack handshake.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *Config) { c.HandshakeTimeout = d }
}

// WithPingInterval sets the interval between pings.
func WithPingInterval(d time.Duration) Option { return func(c *Config) { c.PingInterval = d } }

// WithPongTimeout sets how long a ping may go without a pong.
func WithPongTimeout(d time.Duration) Option { return func(c *Config) { c.PongTimeout = d } }

// WithWriteTimeout sets how long a peer may refuse our bytes.
func WithWriteTimeout(d time.Duration) Option { return func(c *Config) { c.WriteTimeout = d } }

// WithStableAfter sets how long a connection must stay up to count as stable (0: at once).
func WithStableAfter(d time.Duration) Option { return func(c *Config) { c.StableAfter = d } }

// WithUserAgent sets the user agent of our version message ("" for the library's).
func WithUserAgent(ua string) Option { return func(c *Config) { c.UserAgent = ua } }

// WithServices sets the service bits we advertise.
func WithServices(s uint64) Option { return func(c *Config) { c.Services = s } }

// WithRelay sets the relay flag of our version message.
func WithRelay(relay bool) Option { return func(c *Config) { c.Relay = relay } }

// WithAllowLocalAddresses lets discovery dial loopback and private addresses (regtest,
// simulated networks).
func WithAllowLocalAddresses(allow bool) Option {
	return func(c *Config) { c.AllowLocalAddresses = allow }
}

// WithDiscovery turns peer discovery (getaddr on connect, the address book's outbound
// peers, DNS seeds) on or off.
func WithDiscovery(on bool) Option { return func(c *Config) { c.Discovery = on } }

// WithMaxMessageSize sets the largest message payload accepted or sent.
func WithMaxMessageSize(n int) Option { return func(c *Config) { c.MaxMessageSize = n } }

// WithSendQueue sets the bytes and the number of messages that may wait in one peer's send
// queue.
func WithSendQueue(bytes, messages int) Option {
	return func(c *Config) { c.SendQueueBytes, c.SendQueueLen = bytes, messages }
}

// WithEventQueueLen sets the number of events that may wait for the listeners.
func WithEventQueueLen(n int) Option { return func(c *Config) { c.EventQueueLen = n } }

// WithDelivery selects how events reach the listeners.
func WithDelivery(d Delivery) Option { return func(c *Config) { c.Delivery = d } }

// WithTargetOutbound sets the number of discovered peers to keep connected (0: up to
// MaxPeers; at most MaxPeers).
func WithTargetOutbound(n int) Option { return func(c *Config) { c.TargetOutbound = n } }

// WithDNSSeeds sets the DNS seeds asked when the address book is short: nil selects the
// network's seeds, an empty non-nil slice ([]string{}) none. The slice is copied.
func WithDNSSeeds(seeds []string) Option {
	if seeds != nil {
		seeds = append([]string{}, seeds...)
	}
	return func(c *Config) { c.DNSSeeds = seeds }
}

// WithAddressBookPath sets the file the address book is loaded from and saved to ("" keeps
// it in memory only).
func WithAddressBookPath(path string) Option {
	return func(c *Config) { c.AddressBookPath = path }
}

// WithListeners sets the listener functions.
func WithListeners(l *MessageListeners) Option { return func(c *Config) { c.Listeners = l } }

// WithTransport sets Config.Transport.
func WithTransport(t Transport) Option { return func(c *Config) { c.Transport = t } }

// WithProxy sends every connection through the SOCKS5 proxy at addr ("HOST:PORT"; "" for
// direct connections): host names are resolved by the proxy, DNS seeds asked through it, and
// onion addresses go through it unless WithOnionProxy names another.
func WithProxy(addr string) Option { return func(c *Config) { c.Proxy = addr } }

// WithProxyAuth sets the username and password for the proxy of WithProxy (both "" for
// fresh random credentials per connection, the default).
func WithProxyAuth(username, password string) Option {
	return func(c *Config) { c.ProxyUsername, c.ProxyPassword = username, password }
}

// WithOnionProxy sends Tor onion addresses through the SOCKS5 proxy at addr (a local Tor's
// is usually "127.0.0.1:9050"; "" uses the proxy of WithProxy, if any).
func WithOnionProxy(addr string) Option { return func(c *Config) { c.OnionProxy = addr } }

// WithOnionProxyAuth sets the username and password for the proxy of WithOnionProxy.
func WithOnionProxyAuth(username, password string) Option {
	return func(c *Config) { c.OnionProxyUsername, c.OnionProxyPassword = username, password }
}

// toC converts the config to the C struct; its strings (user_agent, dns_seeds,
// address_book_path, where not NULL) are allocated with malloc and must be released with
// freeConfigStrings after btcclient_client_new. On error nothing is left allocated.
func (cfg *Config) toC() (c C.btcclient_config, err error) {
	defer func() {
		if err != nil {
			freeConfigStrings(&c)
		}
	}()
	C.btcclient_config_default(&c, C.size_t(unsafe.Sizeof(c)))
	bad := func(field, why string) error {
		return &Error{Status: statusInvalidConfig, Message: "invalid config: " + goFieldName(field) + ": " + why}
	}
	if cfg.Network.id > C.BTCCLIENT_NETWORK_CUSTOM {
		return c, bad("Network", "unknown network")
	}
	c.network = C.uint32_t(cfg.Network.id)
	for i, b := range cfg.Network.magic {
		c.custom_magic[i] = C.uint8_t(b)
	}
	ints := []struct {
		name string
		v    int
		dst  *C.size_t
	}{
		{"MaxPeers", cfg.MaxPeers, &c.max_peers},
		{"MaxMessageSize", cfg.MaxMessageSize, &c.max_message_size},
		{"SendQueueBytes", cfg.SendQueueBytes, &c.send_queue_bytes},
		{"SendQueueLen", cfg.SendQueueLen, &c.send_queue_len},
		{"EventQueueLen", cfg.EventQueueLen, &c.event_queue_len},
		{"TargetOutbound", cfg.TargetOutbound, &c.target_outbound},
	}
	for _, f := range ints {
		if f.v < 0 {
			return c, bad(f.name, fmt.Sprintf("must not be negative, got %d", f.v))
		}
		*f.dst = C.size_t(f.v)
	}
	if cfg.MaxFailureCount < 0 || uint64(cfg.MaxFailureCount) > 1<<32-1 {
		return c, bad("MaxFailureCount", fmt.Sprintf("out of range: %d", cfg.MaxFailureCount))
	}
	c.max_failure_count = C.uint32_t(cfg.MaxFailureCount)
	durations := []struct {
		name string
		v    time.Duration
		dst  *C.uint64_t
	}{
		{"HealthCheckInterval", cfg.HealthCheckInterval, &c.health_check_interval_ms},
		{"ReconnectDelay", cfg.ReconnectDelay, &c.reconnect_delay_ms},
		{"BackoffMax", cfg.BackoffMax, &c.backoff_max_ms},
		{"ConnectionTimeout", cfg.ConnectionTimeout, &c.connection_timeout_ms},
		{"HandshakeTimeout", cfg.HandshakeTimeout, &c.handshake_timeout_ms},
		{"PingInterval", cfg.PingInterval, &c.ping_interval_ms},
		{"PongTimeout", cfg.PongTimeout, &c.pong_timeout_ms},
		{"WriteTimeout", cfg.WriteTimeout, &c.write_timeout_ms},
		{"StableAfter", cfg.StableAfter, &c.stable_after_ms},
	}
	for _, f := range durations {
		if f.v < 0 {
			return c, bad(f.name, fmt.Sprintf("must not be negative, got %v", f.v))
		}
		*f.dst = C.uint64_t(toMillis(f.v))
	}
	c.services = C.uint64_t(cfg.Services)
	c.relay = C.bool(cfg.Relay)
	c.allow_local_addresses = C.bool(cfg.AllowLocalAddresses)
	c.discovery = C.bool(cfg.Discovery)
	switch cfg.Delivery {
	case DeliveryPoll:
		c.poll_mode = true
	case DeliveryCallbacks:
		c.delivery = C.BTCCLIENT_DELIVERY_SERIALIZED
	case DeliveryConcurrent:
		c.delivery = C.BTCCLIENT_DELIVERY_CONCURRENT
	default:
		return c, bad("Delivery", fmt.Sprintf("unknown value %d", int(cfg.Delivery)))
	}
	switch cfg.Transport {
	case TransportV2Preferred, TransportV1Only, TransportV2Only:
		c.transport = C.uint32_t(cfg.Transport)
	default:
		return c, bad("Transport", fmt.Sprintf("unknown value %d", int(cfg.Transport)))
	}
	// A string with a NUL byte matches ErrInvalidArgument too (C would read it only up to
	// the NUL).
	nul := func(field string) error {
		err := bad(field, "contains a NUL byte").(*Error)
		err.also = ErrInvalidArgument
		return err
	}
	if cfg.UserAgent != "" {
		if strings.IndexByte(cfg.UserAgent, 0) >= 0 {
			return c, nul("UserAgent")
		}
		c.user_agent = C.CString(cfg.UserAgent)
	}
	if cfg.DNSSeeds != nil {
		// The library takes one string: the host names separated by commas, "" for none.
		for _, seed := range cfg.DNSSeeds {
			switch {
			case strings.IndexByte(seed, 0) >= 0:
				return c, nul("DNSSeeds")
			case strings.IndexByte(seed, ',') >= 0:
				return c, bad("DNSSeeds", fmt.Sprintf("seed %q contains a comma", seed))
			case strings.TrimSpace(seed) == "":
				// Joined, it would read as "no seeds" (a single one) or fail as ",,".
				return c, bad("DNSSeeds", fmt.Sprintf("empty seed %q", seed))
			case !utf8.ValidString(seed):
				return c, bad("DNSSeeds", fmt.Sprintf("seed %q is not valid UTF-8", seed))
			}
		}
		c.dns_seeds = C.CString(strings.Join(cfg.DNSSeeds, ","))
	}
	if cfg.AddressBookPath != "" {
		if strings.IndexByte(cfg.AddressBookPath, 0) >= 0 {
			return c, nul("AddressBookPath")
		}
		if !utf8.ValidString(cfg.AddressBookPath) {
			return c, bad("AddressBookPath", fmt.Sprintf("%q is not valid UTF-8 (the library takes UTF-8 paths only)", cfg.AddressBookPath))
		}
		c.address_book_path = C.CString(cfg.AddressBookPath)
	}
	proxies := []struct {
		addr, user, pass             string
		addrName, userName, passName string
		dst                          [3]**C.char
	}{
		{cfg.Proxy, cfg.ProxyUsername, cfg.ProxyPassword, "Proxy", "ProxyUsername", "ProxyPassword",
			[3]**C.char{&c.proxy, &c.proxy_username, &c.proxy_password}},
		{cfg.OnionProxy, cfg.OnionProxyUsername, cfg.OnionProxyPassword, "OnionProxy",
			"OnionProxyUsername", "OnionProxyPassword",
			[3]**C.char{&c.onion_proxy, &c.onion_proxy_username, &c.onion_proxy_password}},
	}
	for _, p := range proxies {
		values := []struct{ name, v string }{{p.addrName, p.addr}, {p.userName, p.user}, {p.passName, p.pass}}
		for _, v := range values {
			switch {
			case strings.IndexByte(v.v, 0) >= 0:
				return c, nul(v.name)
			case !utf8.ValidString(v.v):
				return c, bad(v.name, "is not valid UTF-8")
			}
		}
		switch {
		case p.addr == "" && (p.user != "" || p.pass != ""):
			return c, bad(p.userName, "credentials without a proxy: set "+goFieldName(p.addrName)+" too")
		case (p.user == "") != (p.pass == ""):
			return c, bad(p.userName, "set the username and the password together, or neither")
		}
		for i, v := range values {
			if v.v != "" {
				*p.dst[i] = C.CString(v.v)
			}
		}
	}
	return c, nil
}

// freeConfigStrings releases the strings toC allocated and sets them to NULL.
func freeConfigStrings(c *C.btcclient_config) {
	for _, p := range []**C.char{&c.user_agent, &c.dns_seeds, &c.address_book_path, &c.proxy,
		&c.proxy_username, &c.proxy_password, &c.onion_proxy, &c.onion_proxy_username,
		&c.onion_proxy_password} {
		if *p != nil {
			C.free(unsafe.Pointer(*p))
			*p = nil
		}
	}
}

// toMillis rounds a duration up to whole milliseconds (a positive duration never becomes 0).
func toMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// options names the option that sets each Config field.
var options = map[string]string{
	"Network": "WithNetwork", "MaxPeers": "WithMaxPeers", "MaxFailureCount": "WithMaxFailureCount",
	"HealthCheckInterval": "WithHealthCheckInterval", "ReconnectDelay": "WithReconnectDelay",
	"BackoffMax": "WithBackoffMax", "ConnectionTimeout": "WithConnectionTimeout",
	"HandshakeTimeout": "WithHandshakeTimeout", "PingInterval": "WithPingInterval",
	"PongTimeout": "WithPongTimeout", "WriteTimeout": "WithWriteTimeout",
	"StableAfter": "WithStableAfter", "UserAgent": "WithUserAgent", "Services": "WithServices",
	"Relay": "WithRelay", "AllowLocalAddresses": "WithAllowLocalAddresses",
	"Discovery": "WithDiscovery", "MaxMessageSize": "WithMaxMessageSize",
	"SendQueueBytes": "WithSendQueue", "SendQueueLen": "WithSendQueue",
	"EventQueueLen": "WithEventQueueLen", "Delivery": "WithDelivery", "Listeners": "WithListeners",
	"TargetOutbound": "WithTargetOutbound", "DNSSeeds": "WithDNSSeeds",
	"AddressBookPath": "WithAddressBookPath", "Transport": "WithTransport",
	"Proxy": "WithProxy", "ProxyUsername": "WithProxyAuth", "ProxyPassword": "WithProxyAuth",
	"OnionProxy": "WithOnionProxy", "OnionProxyUsername": "WithOnionProxyAuth",
	"OnionProxyPassword": "WithOnionProxyAuth",
}

// goFieldName is how an error names a Config field: "MaxPeers (WithMaxPeers)".
func goFieldName(field string) string {
	if o, ok := options[field]; ok {
		return field + " (" + o + ")"
	}
	return field
}

// cFields maps the names the library's config errors use (the C struct's fields, the
// durations with or without _ms) to the Config fields. At each position the first name that
// matches wins, so the _ms forms come first.
var cFields = strings.NewReplacer(
	"health_check_interval_ms", "HealthCheckInterval", "reconnect_delay_ms", "ReconnectDelay",
	"connection_timeout_ms", "ConnectionTimeout", "handshake_timeout_ms", "HandshakeTimeout",
	"ping_interval_ms", "PingInterval", "pong_timeout_ms", "PongTimeout",
	"write_timeout_ms", "WriteTimeout", "stable_after_ms", "StableAfter", "backoff_max_ms", "BackoffMax",
	"health_check_interval", "HealthCheckInterval", "reconnect_delay", "ReconnectDelay",
	"connection_timeout", "ConnectionTimeout", "handshake_timeout", "HandshakeTimeout",
	"ping_interval", "PingInterval", "pong_timeout", "PongTimeout", "write_timeout", "WriteTimeout",
	"stable_after", "StableAfter",
	"max_peers", "MaxPeers", "max_failure_count", "MaxFailureCount", "user_agent", "UserAgent",
	"max_message_size", "MaxMessageSize", "send_queue_bytes", "SendQueueBytes",
	"send_queue_len", "SendQueueLen", "event_queue_len", "EventQueueLen",
	"allow_local_addresses", "AllowLocalAddresses", "custom_magic", "Network",
	"target_outbound", "TargetOutbound", "dns_seeds", "DNSSeeds",
	"address_book_path", "AddressBookPath",
	"onion_proxy_username", "OnionProxyUsername", "onion_proxy_password", "OnionProxyPassword",
	"proxy_username", "ProxyUsername", "proxy_password", "ProxyPassword",
)

// configError renames the fields in the library's INVALID_CONFIG message ("invalid config:
// max_peers: must be at least 1") the Go way ("invalid config: MaxPeers (WithMaxPeers): must
// be at least 1"); other errors pass unchanged.
func configError(err error) error {
	e, ok := err.(*Error)
	if !ok || e.Status != statusInvalidConfig {
		return err
	}
	const prefix = "invalid config: "
	rest := strings.TrimPrefix(e.Message, prefix)
	field, why, found := strings.Cut(rest, ": ")
	if rest == e.Message || !found {
		e.Message = cFields.Replace(e.Message)
		return e
	}
	switch field {
	case "backoff", "backoff_max_ms": // the exponential backoff's maximum
		field = "BackoffMax"
	case "network", "delivery", "transport", "proxy":
		field = strings.ToUpper(field[:1]) + field[1:]
	case "onion_proxy":
		field = "OnionProxy"
	default:
		field = cFields.Replace(field)
	}
	e.Message = prefix + goFieldName(field) + ": " + cFields.Replace(why)
	return e
}
