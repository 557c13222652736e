//! The one owner of a peer's lifecycle: its status, its failure streak, its backoff and the
//! stable-connection rule.
//!
//! [`Lifecycle::step`] is a pure transition function: given an [`Input`] and the time, it
//! changes the state and returns what the session must do ([`Action`]s). The session code
//! feeds it what happened and carries out the actions; nothing else writes a peer's status or
//! failure count. The whole table is unit-tested below without sockets or a clock.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Backoff, Config};
use crate::error::ConnectFailure;
use crate::listeners::DisconnectReason;
use crate::peer::PeerStatus;

/// Why a connection attempt counted as a failure (in [`AttemptFailure`]).
///
/// More causes will be added (for example for transports and proxies), so match with a
/// wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// Dialling or the version/verack handshake failed.
    Connect(ConnectFailure),
    /// The connection was established but ended before it was stable
    /// ([`Config::stable_after`]); the reason it ended.
    Unstable(DisconnectReason),
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::Connect(c) => c.fmt(f),
            FailureCause::Unstable(r) => write!(f, "connection ended before it was stable: {r}"),
        }
    }
}

/// A connection attempt failed (the argument of [`crate::Listeners::on_attempt_failed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptFailure {
    /// The peer's address as managed.
    pub addr: String,
    /// What went wrong.
    pub cause: FailureCause,
    /// Consecutive failures, this one included.
    pub failures: u32,
    /// How long until the next attempt.
    pub retry_in: Duration,
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({} in a row; retry in {:.1?})",
            self.addr, self.cause, self.failures, self.retry_in
        )
    }
}

/// A peer's status changed (the argument of [`crate::Listeners::on_status_changed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// The status before.
    pub old: PeerStatus,
    /// The status now.
    pub new: PeerStatus,
}

/// What happened to a peer, fed to [`Lifecycle::step`].
#[derive(Clone, Debug)]
pub(crate) enum Input {
    /// A connection attempt starts (dial).
    Dial,
    /// The attempt failed before the handshake finished.
    AttemptFailed(ConnectFailure),
    /// The version/verack handshake finished.
    HandshakeDone,
    /// The time given with a `StableAt` action came.
    StableTimer,
    /// The connection ended.
    Ended(DisconnectReason),
}

/// What the session must do after a step, in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Report a status change.
    Status(StatusChange),
    /// Report a failed attempt.
    Failed {
        cause: FailureCause,
        failures: u32,
        retry_in: Duration,
    },
    /// Feed [`Input::StableTimer`] at this time if the connection is still up.
    StableAt(Instant),
    /// Wait this long, then dial again.
    RetryIn(Duration),
    /// Do not dial again: the peer was removed or the client stopped.
    Finish,
}

/// The settings the lifecycle follows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub(crate) max_failure_count: u32,
    pub(crate) reconnect_delay: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) stable_after: Duration,
}

impl Policy {
    pub(crate) fn from_config(config: &Config) -> Policy {
        Policy {
            max_failure_count: config.max_failure_count,
            reconnect_delay: config.reconnect_delay,
            backoff: config.backoff,
            stable_after: config.stable_after,
        }
    }

    /// The nominal delay after `streak` consecutive failures (0: after a stable connection).
    pub(crate) fn nominal_delay(&self, streak: u32) -> Duration {
        match self.backoff {
            Backoff::Fixed => self.reconnect_delay,
            Backoff::Exponential { max } => {
                let exp = streak.saturating_sub(1).min(20);
                self.reconnect_delay.saturating_mul(1u32 << exp).min(max)
            }
        }
    }
}

/// A peer's lifecycle state.
#[derive(Clone, Debug)]
pub(crate) struct Lifecycle {
    policy: Policy,
    status: PeerStatus,
    /// Consecutive failures; reset only when a connection becomes stable.
    streak: u32,
    /// When the current connection's handshake finished.
    connected_at: Option<Instant>,
    /// Whether the current connection has become stable.
    stable: bool,
    /// State of the jitter generator (xorshift64*), so that steps stay pure.
    rng: u64,
    /// Consecutive attempts the proxy failed ([`ConnectFailure::is_proxy_failure`]): they back
    /// off by this count and leave `streak` alone. Reset by any attempt that reached the peer.
    proxy_streak: u32,
}

impl Lifecycle {
    pub(crate) fn new(policy: Policy, seed: u64) -> Lifecycle {
        Lifecycle {
            policy,
            status: PeerStatus::Disconnected,
            streak: 0,
            connected_at: None,
            stable: false,
            rng: seed | 1,
            proxy_streak: 0,
        }
    }

    pub(crate) fn status(&self) -> PeerStatus {
        self.status
    }

    /// Consecutive failures (while connected: the streak so far, until it is stable).
    pub(crate) fn failures(&self) -> u32 {
        self.streak
    }

    /// A factor in 0.75..=1.25.
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        0.75 + 0.5 * ((x >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn delay(&mut self) -> Duration {
        self.delay_after(self.streak)
    }

    /// The delay after `streak` consecutive failures, with jitter.
    fn delay_after(&mut self, streak: u32) -> Duration {
        let nominal = self.policy.nominal_delay(streak);
        match self.policy.backoff {
            Backoff::Fixed => nominal,
            Backoff::Exponential { max } => nominal.mul_f64(self.jitter()).min(max),
        }
    }

    fn set_status(&mut self, new: PeerStatus, actions: &mut Vec<Action>) {
        if new != self.status {
            actions.push(Action::Status(StatusChange {
                old: self.status,
                new,
            }));
            self.status = new;
        }
    }

    fn fail(&mut self, cause: FailureCause, actions: &mut Vec<Action>) {
        self.streak = self.streak.saturating_add(1);
        let status = if self.streak >= self.policy.max_failure_count {
            PeerStatus::Unhealthy
        } else if self.status == PeerStatus::Unhealthy {
            // An unhealthy peer stays unhealthy while it is retried.
            PeerStatus::Unhealthy
        } else {
            PeerStatus::Disconnected
        };
        self.set_status(status, actions);
        let retry_in = self.delay();
        actions.push(Action::Failed {
            cause,
            failures: self.streak,
            retry_in,
        });
        actions.push(Action::RetryIn(retry_in));
    }

    /// The proxy failed, not the peer: reported and backed off like a failure (by the count
    /// of consecutive proxy failures), but not counted in the failure streak, so that a proxy
    /// outage makes no peer `Unhealthy` (nor a discovered one replaced).
    fn proxy_failed(&mut self, cause: FailureCause, actions: &mut Vec<Action>) {
        self.proxy_streak = self.proxy_streak.saturating_add(1);
        let status = if self.status == PeerStatus::Unhealthy {
            PeerStatus::Unhealthy
        } else {
            PeerStatus::Disconnected
        };
        self.set_status(status, actions);
        let retry_in = self.delay_after(self.proxy_streak);
        actions.push(Action::Failed {
            cause,
            failures: self.streak,
            retry_in,
        });
        actions.push(Action::RetryIn(retry_in));
    }

    fn check_stable(&mut self, now: Instant) {
        if let Some(at) = self.connected_at {
            if !self.stable && now.saturating_duration_since(at) >= self.policy.stable_after {
                self.stable = true;
                self.streak = 0;
            }
        }
    }

    /// The transition function: what `input` at `now` does to the state, and what to do.
    pub(crate) fn step(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Dial => {
                if self.status == PeerStatus::Disconnected {
                    self.set_status(PeerStatus::Connecting, &mut actions);
                }
            }
            Input::AttemptFailed(failure) if failure.is_proxy_failure() => {
                self.proxy_failed(FailureCause::Connect(failure), &mut actions);
            }
            Input::AttemptFailed(failure) => {
                self.proxy_streak = 0;
                self.fail(FailureCause::Connect(failure), &mut actions);
            }
            Input::HandshakeDone => {
                self.proxy_streak = 0;
                self.connected_at = Some(now);
                self.stable = false;
                self.set_status(PeerStatus::Connected, &mut actions);
                actions.push(Action::StableAt(now + self.policy.stable_after));
                // A zero period: stable at once.
                self.check_stable(now);
            }
            Input::StableTimer => self.check_stable(now),
            Input::Ended(reason) => {
                self.check_stable(now);
                let was_stable = self.stable || self.connected_at.is_none();
                self.connected_at = None;
                self.stable = false;
                let ours = matches!(
                    reason,
                    DisconnectReason::Removed
                        | DisconnectReason::Stopped
                        | DisconnectReason::Unhealthy
                        | DisconnectReason::Evicted
                );
                if ours {
                    self.set_status(PeerStatus::Disconnected, &mut actions);
                    actions.push(Action::Finish);
                } else if was_stable {
                    self.set_status(PeerStatus::Disconnected, &mut actions);
                    let retry_in = self.delay();
                    actions.push(Action::RetryIn(retry_in));
                } else {
                    self.fail(FailureCause::Unstable(reason), &mut actions);
                }
            }
        }
        actions
    }

    /// The client stops or the peer is removed (or dropped as unhealthy) while it is not
    /// connected: it ends `Disconnected`.
    pub(crate) fn finish(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        self.set_status(PeerStatus::Disconnected, &mut actions);
        actions.push(Action::Finish);
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PeerStatus::*;

    const S: Duration = Duration::from_secs(1);

    fn policy(backoff: Backoff) -> Policy {
        Policy {
            max_failure_count: 3,
            reconnect_delay: 5 * S,
            backoff,
            stable_after: 60 * S,
        }
    }

    fn exp() -> Backoff {
        Backoff::Exponential { max: 600 * S }
    }

    fn status(actions: &[Action]) -> Vec<(PeerStatus, PeerStatus)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Status(c) => Some((c.old, c.new)),
                _ => None,
            })
            .collect()
    }

    fn retry(actions: &[Action]) -> Option<Duration> {
        actions.iter().find_map(|a| match a {
            Action::RetryIn(d) => Some(*d),
            _ => None,
        })
    }

    fn failed(actions: &[Action]) -> Option<(FailureCause, u32, Duration)> {
        actions.iter().find_map(|a| match a {
            Action::Failed {
                cause,
                failures,
                retry_in,
            } => Some((cause.clone(), *failures, *retry_in)),
            _ => None,
        })
    }

    #[test]
    fn dial_fail_connect_end_table() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(policy(Backoff::Fixed), 7);
        assert_eq!(l.status(), Disconnected);
        assert_eq!(
            status(&l.step(Input::Dial, t0)),
            [(Disconnected, Connecting)]
        );
        let a = l.step(Input::AttemptFailed(ConnectFailure::DialTimeout), t0);
        assert_eq!(status(&a), [(Connecting, Disconnected)]);
        assert_eq!(
            failed(&a),
            Some((FailureCause::Connect(ConnectFailure::DialTimeout), 1, 5 * S))
        );
        assert_eq!(retry(&a), Some(5 * S));
        // The handshake does not reset the streak: only stability does.
        l.step(Input::Dial, t0);
        let a = l.step(Input::HandshakeDone, t0);
        assert_eq!(status(&a), [(Connecting, Connected)]);
        assert!(a.contains(&Action::StableAt(t0 + 60 * S)));
        assert_eq!(l.failures(), 1);
        // Too early: nothing.
        l.step(Input::StableTimer, t0 + 59 * S);
        assert_eq!(l.failures(), 1);
        l.step(Input::StableTimer, t0 + 60 * S);
        assert_eq!(l.failures(), 0);
        // A stable connection that ends is no failure; retried after the base delay.
        let a = l.step(Input::Ended(DisconnectReason::RemoteClosed), t0 + 100 * S);
        assert_eq!(status(&a), [(Connected, Disconnected)]);
        assert_eq!(failed(&a), None);
        assert_eq!(retry(&a), Some(5 * S));
    }

    #[test]
    fn a_connection_that_ends_before_it_is_stable_is_a_failure_with_its_reason() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(policy(Backoff::Fixed), 7);
        for n in 1..=2u32 {
            l.step(Input::Dial, t0);
            l.step(Input::HandshakeDone, t0);
            let a = l.step(Input::Ended(DisconnectReason::RemoteClosed), t0 + 59 * S);
            assert_eq!(status(&a), [(Connected, Disconnected)]);
            assert_eq!(
                failed(&a),
                Some((
                    FailureCause::Unstable(DisconnectReason::RemoteClosed),
                    n,
                    5 * S
                ))
            );
        }
        // The third: unhealthy, straight from connected.
        l.step(Input::Dial, t0);
        l.step(Input::HandshakeDone, t0);
        let a = l.step(Input::Ended(DisconnectReason::Io("reset".into())), t0 + S);
        assert_eq!(status(&a), [(Connected, Unhealthy)]);
        assert_eq!(l.failures(), 3);
        // Even without the timer firing, an end after the stable period is no failure.
        l.step(Input::Dial, t0);
        assert_eq!(l.status(), Unhealthy, "retried while unhealthy");
        l.step(Input::HandshakeDone, t0);
        let a = l.step(Input::Ended(DisconnectReason::RemoteClosed), t0 + 61 * S);
        assert_eq!(failed(&a), None);
        assert_eq!(l.failures(), 0);
        assert_eq!(l.status(), Disconnected);
    }

    #[test]
    fn unhealthy_after_max_failures_and_stays_so_until_a_handshake() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(policy(Backoff::Fixed), 7);
        for _ in 0..2 {
            l.step(Input::Dial, t0);
            l.step(Input::AttemptFailed(ConnectFailure::HandshakeTimeout), t0);
            assert_eq!(l.status(), Disconnected);
        }
        l.step(Input::Dial, t0);
        let a = l.step(Input::AttemptFailed(ConnectFailure::HandshakeTimeout), t0);
        assert_eq!(status(&a), [(Connecting, Unhealthy)]);
        // Retried while unhealthy: no status change on dial nor on the next failure.
        assert!(status(&l.step(Input::Dial, t0)).is_empty());
        let a = l.step(Input::AttemptFailed(ConnectFailure::DialTimeout), t0);
        assert!(status(&a).is_empty());
        assert_eq!(failed(&a).map(|f| f.1), Some(4));
        // A handshake makes it connected; the failure count is the streak until stable.
        l.step(Input::Dial, t0);
        assert_eq!(
            status(&l.step(Input::HandshakeDone, t0)),
            [(Unhealthy, Connected)]
        );
        assert_eq!(l.failures(), 4);
    }

    #[test]
    fn our_own_stop_or_removal_is_never_a_failure() {
        let t0 = Instant::now();
        for reason in [
            DisconnectReason::Removed,
            DisconnectReason::Stopped,
            DisconnectReason::Unhealthy,
            DisconnectReason::Evicted,
        ] {
            let mut l = Lifecycle::new(policy(exp()), 7);
            l.step(Input::Dial, t0);
            l.step(Input::HandshakeDone, t0);
            let a = l.step(Input::Ended(reason), t0 + S);
            assert_eq!(status(&a), [(Connected, Disconnected)]);
            assert_eq!(failed(&a), None);
            assert_eq!(a.last(), Some(&Action::Finish));
            assert_eq!(l.failures(), 0);
        }
        let mut l = Lifecycle::new(policy(exp()), 7);
        l.step(Input::Dial, t0);
        assert_eq!(
            l.finish(),
            [
                Action::Status(StatusChange {
                    old: Connecting,
                    new: Disconnected
                }),
                Action::Finish
            ]
        );
        // An unhealthy peer that is dropped or removed ends disconnected too.
        let mut l = Lifecycle::new(policy(Backoff::Fixed), 7);
        for _ in 0..3 {
            l.step(Input::Dial, t0);
            l.step(Input::AttemptFailed(ConnectFailure::DialTimeout), t0);
        }
        assert_eq!(l.status(), Unhealthy);
        assert_eq!(status(&l.finish()), [(Unhealthy, Disconnected)]);
    }

    #[test]
    fn exponential_backoff_doubles_with_jitter_up_to_the_cap() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(
            Policy {
                max_failure_count: 100,
                ..policy(exp())
            },
            42,
        );
        for streak in 1..=12u32 {
            l.step(Input::Dial, t0);
            let a = l.step(Input::AttemptFailed(ConnectFailure::DialTimeout), t0);
            let d = retry(&a).expect("retry");
            let nominal = (5 * S).saturating_mul(1 << (streak - 1)).min(600 * S);
            assert!(
                d >= nominal.mul_f64(0.75) && d <= nominal.mul_f64(1.25).min(600 * S),
                "streak {streak}: {d:?}"
            );
            assert_eq!(failed(&a).map(|f| f.2), Some(d));
        }
        // After a stable connection: back to the base delay.
        l.step(Input::Dial, t0);
        l.step(Input::HandshakeDone, t0);
        l.step(Input::StableTimer, t0 + 60 * S);
        let d = retry(&l.step(Input::Ended(DisconnectReason::RemoteClosed), t0 + 61 * S));
        assert!(d.is_some_and(|d| d <= (5 * S).mul_f64(1.25)), "{d:?}");
    }

    #[test]
    fn a_proxy_failure_backs_off_without_counting_against_the_peer() {
        let t0 = Instant::now();
        let proxy_down = || ConnectFailure::Proxy {
            proxy: "127.0.0.1:9050".into(),
            reason: "cannot connect".into(),
        };
        let mut l = Lifecycle::new(
            Policy {
                max_failure_count: 2,
                ..policy(exp())
            },
            7,
        );
        // One failure of the peer itself first: the streak is 1.
        l.step(Input::Dial, t0);
        l.step(Input::AttemptFailed(ConnectFailure::DialTimeout), t0);
        let mut last = Duration::ZERO;
        for n in 1..=6u32 {
            l.step(Input::Dial, t0);
            let a = l.step(Input::AttemptFailed(proxy_down()), t0);
            // Reported, with the streak unchanged; never unhealthy however long it lasts.
            let (cause, failures, retry_in) = failed(&a).expect("reported");
            assert_eq!(cause, FailureCause::Connect(proxy_down()));
            assert_eq!(failures, 1);
            assert_eq!(l.status(), Disconnected);
            assert_eq!(retry(&a), Some(retry_in));
            // Backs off by its own count: 5 s, 10 s, 20 s, … (±25 %).
            let nominal = (5 * S).saturating_mul(1 << (n - 1));
            assert!(
                retry_in >= nominal.mul_f64(0.75) && retry_in <= nominal.mul_f64(1.25),
                "proxy failure {n}: {retry_in:?}"
            );
            assert!(retry_in > last);
            last = retry_in;
        }
        // A refusal that blames the peer is the peer's failure: the streak goes on (to
        // unhealthy here), and the proxy's backoff starts again from the bottom.
        l.step(Input::Dial, t0);
        let refused = ConnectFailure::ProxyRefused {
            proxy: "127.0.0.1:9050".into(),
            code: 5,
        };
        let a = l.step(Input::AttemptFailed(refused), t0);
        assert_eq!(status(&a), [(Connecting, Unhealthy)]);
        assert_eq!(failed(&a).map(|f| f.1), Some(2));
        l.step(Input::Dial, t0);
        let a = l.step(Input::AttemptFailed(proxy_down()), t0);
        assert!(status(&a).is_empty(), "an unhealthy peer stays so");
        assert!(retry(&a).is_some_and(|d| d <= (5 * S).mul_f64(1.25)));
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut l = Lifecycle::new(policy(exp()), 1);
        for _ in 0..10_000 {
            let j = l.jitter();
            assert!((0.75..=1.25).contains(&j), "{j}");
        }
    }
}
