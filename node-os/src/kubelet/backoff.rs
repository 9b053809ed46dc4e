//! CrashLoopBackOff timing, as kubelet's per-container backoff (`flowcontrol.Backoff` in
//! kuberuntime): the first restart of a crashed container waits 10 s, each further crash
//! doubles the wait up to 5 min, and a container that ran for 10 min without crashing
//! (twice the cap) starts over at 10 s. Pure: the caller passes the clock.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);
/// A container that stayed up this long since its last restart has its backoff forgotten.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    delay: Duration,
    /// When the container last finished (the backoff counts from here).
    last_exit: Instant,
}

/// Backoff per container, keyed by `<pod uid>/<container name>`.
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

impl Backoff {
    /// Records that the container exited at `exited_at`, after it had started at
    /// `started_at`; returns the wait before it may start again.
    pub fn record_exit(&mut self, key: &str, started_at: Instant, exited_at: Instant) -> Duration {
        let next = match self.entries.get(key) {
            // Ran long enough since its previous exit: a fresh start, as kubelet's
            // `IsInBackOffSince` forgets entries older than twice the cap.
            Some(e) if exited_at.saturating_duration_since(started_at) < RESET_AFTER => {
                (e.delay * 2).min(MAX)
            }
            _ => INITIAL,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay: next,
                last_exit: exited_at,
            },
        );
        next
    }

    /// Whether the container must still wait at `now`, and how long.
    pub fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let e = self.entries.get(key)?;
        let until = e.last_exit + e.delay;
        (now < until).then(|| until - now)
    }

    /// The current backoff period of the container (what kubelet's message shows).
    pub fn period(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }

    /// Forgets the containers of a pod that is gone.
    pub fn forget_pod(&mut self, pod_uid: &str) {
        let prefix = format!("{pod_uid}/");
        self.entries.retain(|k, _| !k.starts_with(&prefix));
    }
}

/// The message kubelet puts in the Waiting state of a container in backoff.
/// The pod is written as kubelet's `format.Pod` does: `name_namespace(uid)`.
pub fn crash_loop_message(
    delay: Duration,
    container: &str,
    pod: &str,
    namespace: &str,
    uid: &str,
) -> String {
    let d = delay.as_secs();
    let human = if d >= 60 {
        format!("{}m{}s", d / 60, d % 60)
    } else {
        format!("{d}s")
    };
    format!("back-off {human} restarting failed container={container} pod={pod}_{namespace}({uid})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_back_off_ten_seconds_doubling_to_five_minutes() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let mut t = t0;
        let mut seen = Vec::new();
        for _ in 0..8 {
            let start = t;
            t += Duration::from_secs(1);
            seen.push(b.record_exit("u/c", start, t).as_secs());
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn the_wait_counts_from_the_exit() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let d = b.record_exit("u/c", t0, t0 + Duration::from_secs(2));
        assert_eq!(d, INITIAL);
        assert_eq!(
            b.remaining("u/c", t0 + Duration::from_secs(2)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            b.remaining("u/c", t0 + Duration::from_secs(7)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(b.remaining("u/c", t0 + Duration::from_secs(12)), None);
        assert_eq!(b.remaining("other", t0), None);
    }

    #[test]
    fn ten_minutes_of_running_resets_the_backoff() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        b.record_exit("u/c", t0, t0);
        b.record_exit("u/c", t0, t0 + Duration::from_secs(1));
        assert_eq!(
            b.record_exit("u/c", t0, t0 + Duration::from_secs(2)),
            Duration::from_secs(40)
        );
        let start = t0 + Duration::from_secs(100);
        assert_eq!(
            b.record_exit("u/c", start, start + RESET_AFTER - Duration::from_secs(1)),
            Duration::from_secs(80)
        );
        let start = start + RESET_AFTER;
        assert_eq!(b.record_exit("u/c", start, start + RESET_AFTER), INITIAL);
    }

    #[test]
    fn forgetting_a_pod_forgets_only_its_containers() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        b.record_exit("u1/a", t0, t0);
        b.record_exit("u2/a", t0, t0);
        b.forget_pod("u1");
        assert_eq!(b.remaining("u1/a", t0), None);
        assert!(b.remaining("u2/a", t0).is_some());
    }

    #[test]
    fn messages_read_like_kubelets() {
        assert_eq!(
            crash_loop_message(Duration::from_secs(20), "app", "web", "default", "u1"),
            "back-off 20s restarting failed container=app pod=web_default(u1)"
        );
        assert_eq!(
            crash_loop_message(Duration::from_secs(300), "app", "web", "default", "u1"),
            "back-off 5m0s restarting failed container=app pod=web_default(u1)"
        );
        assert_eq!(
            crash_loop_message(Duration::from_secs(160), "app", "web", "default", "u1"),
            "back-off 2m40s restarting failed container=app pod=web_default(u1)"
        );
    }
}
