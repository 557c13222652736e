// The C side of BenchmarkDelivery: a libbtcclient client driven from C only, whose events
// (headers, inv, block) a C consumer counts, either from callbacks or from a thread that
// polls with btcclient_poll_next. It is the baseline the Go module's delivery is compared to.
#ifndef BTCCLIENT_CDELIVER_H
#define BTCCLIENT_CDELIVER_H

#include <stddef.h>
#include <stdint.h>
#include <btcclient.h>

typedef struct cd_bench cd_bench;

// Creates a regtest client (poll = 1: poll mode and a polling thread; 0: C callbacks),
// starts it, adds `addr` and waits for its handshake. On failure returns NULL and writes a
// message to `err`.
cd_bench *cd_open(int poll, uint32_t transport, const char *addr, char *err, size_t errlen);

// Sends getheaders from the regtest genesis (no stop hash) and waits up to `timeout_ms` for
// the answer; `first` receives the hashes of its first two headers. 0 on success.
int cd_warm(cd_bench *b, uint8_t first[2][32], int timeout_ms);

// Sends `sends` messages `command`/`payload` (waiting 50 us whenever the peer's send queue
// is full) and waits up to `timeout_ms` until `events` headers, inv or block events arrived
// after the call began. Returns the number of events that arrived, or -1 when a send
// failed (message in `err`).
int64_t cd_run(cd_bench *b, const char *command, const uint8_t *payload, size_t len,
               uint64_t sends, uint64_t events, int timeout_ms, char *err, size_t errlen);

// Stops the client, ends the polling thread and frees everything.
void cd_close(cd_bench *b);

#endif
