/*
 * A tiny test harness for the C tests: CHECK macros that count, a closing
 * "N passed, N failed" line, a watchdog that ends a test program whose test hangs (naming
 * the test), a helper that runs the simnet binary (simulated Bitcoin nodes on 127.0.0.1) as
 * a child process and reads the nodes' addresses, and one that runs microsocks (a SOCKS5
 * proxy) on 127.0.0.1.
 */
#ifndef BTCCLIENT_TEST_HARNESS_H
#define BTCCLIENT_TEST_HARNESS_H

#define _GNU_SOURCE 1

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "btcclient.h"

static int g_passed;
static int g_failed;

static int harness_contains(const char *haystack, const char *needle);

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (cond) {                                                                    \
      g_passed++;                                                                  \
    } else {                                                                       \
      g_failed++;                                                                  \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
    }                                                                              \
  } while (0)

/* Checks that `call` returns `expected`; prints both statuses' texts otherwise. */
#define CHECK_STATUS(call, expected)                                               \
  do {                                                                             \
    uint32_t got_ = (uint32_t)(call);                                              \
    uint32_t want_ = (uint32_t)(expected);                                         \
    if (got_ == want_) {                                                           \
      g_passed++;                                                                  \
    } else {                                                                       \
      g_failed++;                                                                  \
      fprintf(stderr, "FAIL %s:%d: %s\n  returned %u (%s), expected %u (%s)\n",    \
              __FILE__, __LINE__, #call, got_, btcclient_status_str(got_), want_,  \
              btcclient_status_str(want_));                                        \
    }                                                                              \
  } while (0)

/* Checks the status of a call that takes `btcclient_error **err` and that the error object
 * carries the same status and a message containing `needle` (NULL: any message). Frees the
 * error. */
#define CHECK_ERR(call_with_err, expected, needle)                                 \
  do {                                                                             \
    btcclient_error *err = NULL;                                                   \
    uint32_t got_ = (uint32_t)(call_with_err);                                     \
    uint32_t want_ = (uint32_t)(expected);                                         \
    const char *msg_ = err ? btcclient_error_message(err) : "(no error object)";   \
    int ok_ = got_ == want_;                                                       \
    if (want_ == BTCCLIENT_STATUS_OK) {                                            \
      ok_ = ok_ && err == NULL;                                                    \
    } else {                                                                       \
      ok_ = ok_ && err != NULL && btcclient_error_status(err) == want_ &&          \
            harness_contains(msg_, (needle));                                      \
    }                                                                              \
    if (ok_) {                                                                     \
      g_passed++;                                                                  \
    } else {                                                                       \
      g_failed++;                                                                  \
      fprintf(stderr,                                                              \
              "FAIL %s:%d: %s\n  returned %u (%s), expected %u (%s); message: %s\n", \
              __FILE__, __LINE__, #call_with_err, got_, btcclient_status_str(got_),  \
              want_, btcclient_status_str(want_), msg_);                           \
    }                                                                              \
    btcclient_error_free(err);                                                     \
  } while (0)

static int harness_contains(const char *haystack, const char *needle) {
  return needle == NULL || strstr(haystack, needle) != NULL;
}

/* ---- watchdog ---- */

/* How long one watched test may run, in seconds, before the program is ended as hung:
 * generous (valgrind on a loaded machine is slow). BTCCLIENT_TEST_TIMEOUT overrides it. */
#define HARNESS_TEST_TIMEOUT_S 300
#define HARNESS_MAX_CHILDREN 8

/* What the SIGALRM handler writes (formatted before the alarm is armed: the handler only
 * calls async-signal-safe functions), and the child processes it ends. */
static char g_watch_message[512];
static volatile sig_atomic_t g_watch_message_len;
static volatile pid_t g_watch_children[HARNESS_MAX_CHILDREN];

static void harness_on_alarm(int sig) {
  int i;
  ssize_t ignored;
  (void)sig;
  ignored = write(STDERR_FILENO, g_watch_message, (size_t)g_watch_message_len);
  (void)ignored;
  for (i = 0; i < HARNESS_MAX_CHILDREN; i++) {
    if (g_watch_children[i] > 0) kill(g_watch_children[i], SIGTERM);
  }
  _exit(124);
}

/* Arms the watchdog for the test `name`, which starts now: unless the next harness_watch
 * or harness_finish comes within the limit, the program prints which test hung and exits
 * with status 124 (ending the simnet and microsocks it started). */
static inline void harness_watch(const char *name) {
  static int installed;
  const char *env = getenv("BTCCLIENT_TEST_TIMEOUT");
  unsigned seconds = HARNESS_TEST_TIMEOUT_S;
  int len;
  if (env != NULL && atoi(env) > 0) seconds = (unsigned)atoi(env);
  alarm(0);
  if (!installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = harness_on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    installed = 1;
  }
  len = snprintf(g_watch_message, sizeof g_watch_message,
                 "\nWATCHDOG: %s did not finish within %u s: the test hangs; ending the "
                 "program (%d passed, %d failed so far)\n",
                 name, seconds, g_passed, g_failed);
  if (len < 0) len = 0;
  if ((size_t)len >= sizeof g_watch_message) len = (int)sizeof g_watch_message - 1;
  g_watch_message_len = len;
  alarm(seconds);
}

/* Runs one test call under the watchdog, which names it by its source text. */
#define HARNESS_RUN(call)                                                          \
  do {                                                                             \
    harness_watch(#call);                                                          \
    call;                                                                          \
  } while (0)

static inline void harness_watch_child(pid_t pid) {
  int i;
  for (i = 0; i < HARNESS_MAX_CHILDREN; i++) {
    if (g_watch_children[i] <= 0) {
      g_watch_children[i] = pid;
      return;
    }
  }
}

static inline void harness_unwatch_child(pid_t pid) {
  int i;
  for (i = 0; i < HARNESS_MAX_CHILDREN; i++) {
    if (g_watch_children[i] == pid) g_watch_children[i] = 0;
  }
}

static int harness_finish(const char *name) {
  alarm(0);
  printf("%s: %d passed, %d failed\n", name, g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

static inline double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- simnet ---- */

#define SIMNET_MAX_NODES 16

typedef struct simnet {
  pid_t pid;
  int stdin_fd;
  int nodes;
  char addrs[SIMNET_MAX_NODES][64];
} simnet;

/* Starts `$BTCCLIENT_SIMNET --nodes N --chain-length L [FLAG VALUE]` and reads its N
 * addresses. `flag` (with its `value`) is one more simnet option, or NULL. Returns 0 on
 * success. */
static inline int simnet_start_with(simnet *s, int nodes, int chain_length, const char *flag,
                                    const char *value) {
  const char *bin = getenv("BTCCLIENT_SIMNET");
  char nodes_arg[16], chain_arg[16];
  int in_pipe[2], out_pipe[2];
  FILE *out;
  int i;

  memset(s, 0, sizeof *s);
  s->pid = -1;
  s->stdin_fd = -1;
  if (bin == NULL || bin[0] == '\0') {
    fprintf(stderr, "BTCCLIENT_SIMNET is not set (path of the simnet binary)\n");
    return -1;
  }
  if (nodes < 1 || nodes > SIMNET_MAX_NODES) return -1;
  snprintf(nodes_arg, sizeof nodes_arg, "%d", nodes);
  snprintf(chain_arg, sizeof chain_arg, "%d", chain_length);
  if (pipe(in_pipe) != 0) return -1;
  if (pipe(out_pipe) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return -1;
  }
  s->pid = fork();
  if (s->pid < 0) return -1;
  if (s->pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    close(in_pipe[0]);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    /* Every node answers getaddr with all it knows: a few nodes that know only each other
     * would answer nothing at Bitcoin Core's 23 %, and the tests want discovery to reach all. */
    execl(bin, bin, "--nodes", nodes_arg, "--chain-length", chain_arg, "--getaddr-delay-ms",
          "100", "--getaddr-percent", "100", flag, value, (char *)NULL);
    perror("exec simnet");
    _exit(127);
  }
  harness_watch_child(s->pid);
  close(in_pipe[0]);
  close(out_pipe[1]);
  s->stdin_fd = in_pipe[1];
  out = fdopen(out_pipe[0], "r");
  if (out == NULL) return -1;
  for (i = 0; i < nodes; i++) {
    size_t len;
    if (fgets(s->addrs[i], sizeof s->addrs[i], out) == NULL) {
      fprintf(stderr, "simnet printed %d of %d addresses\n", i, nodes);
      fclose(out);
      return -1;
    }
    len = strlen(s->addrs[i]);
    while (len > 0 && (s->addrs[i][len - 1] == '\n' || s->addrs[i][len - 1] == '\r')) {
      s->addrs[i][--len] = '\0';
    }
  }
  fclose(out);
  s->nodes = nodes;
  return 0;
}

/* Starts `$BTCCLIENT_SIMNET --nodes N --chain-length L` and reads its N addresses. */
static inline int simnet_start(simnet *s, int nodes, int chain_length) {
  return simnet_start_with(s, nodes, chain_length, NULL, NULL);
}

/* Ends simnet: closes its stdin, then SIGTERM, and reaps it. */
static inline void simnet_stop(simnet *s) {
  int status, i;
  if (s->stdin_fd >= 0) {
    close(s->stdin_fd);
    s->stdin_fd = -1;
  }
  if (s->pid <= 0) return;
  for (i = 0; i < 50; i++) {
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      harness_unwatch_child(s->pid);
      s->pid = -1;
      return;
    }
    sleep_ms(20);
  }
  kill(s->pid, SIGTERM);
  waitpid(s->pid, &status, 0);
  harness_unwatch_child(s->pid);
  s->pid = -1;
}

/* ---- a SOCKS5 proxy: microsocks ---- */

typedef struct socks_proxy {
  pid_t pid;
  char addr[32]; /* "127.0.0.1:PORT" */
} socks_proxy;

/* A free TCP port on 127.0.0.1 (nothing listens on it when this returns), 0 on error. */
static inline int free_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int port = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  close(fd);
  return port;
}

/* Whether something accepts TCP connections on 127.0.0.1:port. */
static inline int port_accepts(int port) {
  struct sockaddr_in sa;
  int ok, fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

/* Starts `$MICROSOCKS -i 127.0.0.1 -p PORT` (default: microsocks on the PATH) on a free port
 * and waits until it accepts connections. Returns 0 on success. */
static inline int socks_start(socks_proxy *p) {
  const char *bin = getenv("MICROSOCKS");
  char port_arg[16];
  int port = free_port(), i;
  memset(p, 0, sizeof *p);
  p->pid = -1;
  if (bin == NULL || bin[0] == '\0') bin = "microsocks";
  if (port == 0) return -1;
  snprintf(port_arg, sizeof port_arg, "%d", port);
  snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", port);
  p->pid = fork();
  if (p->pid < 0) return -1;
  if (p->pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
    }
    execlp(bin, bin, "-i", "127.0.0.1", "-p", port_arg, (char *)NULL);
    perror("exec microsocks (apt-get install microsocks, or set MICROSOCKS)");
    _exit(127);
  }
  harness_watch_child(p->pid);
  for (i = 0; i < 100; i++) {
    int status;
    if (port_accepts(port)) return 0;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      harness_unwatch_child(p->pid);
      p->pid = -1;
      return -1;
    }
    sleep_ms(50);
  }
  return -1;
}

/* Ends microsocks (SIGTERM) and reaps it. */
static inline void socks_stop(socks_proxy *p) {
  int status;
  if (p->pid <= 0) return;
  kill(p->pid, SIGTERM);
  waitpid(p->pid, &status, 0);
  harness_unwatch_child(p->pid);
  p->pid = -1;
}

#endif /* BTCCLIENT_TEST_HARNESS_H */
