//! The token bucket that paces how fast nodes in one zone may receive a new
//! `NoExecute` health taint (and so lose their pods).
//!
//! Kubernetes keeps one such limiter per zone (qps from the zone's state,
//! burst 1) and asks it "may I taint another node now?" without blocking.
//! This bucket answers the same question with the time passed in.
//!
//! Internally it is the "virtual scheduling" form of a token bucket (GCRA):
//! instead of a fractional token count it remembers the instant at which the
//! bucket would be full again. The two are equivalent, but this form works
//! in whole nanoseconds, so "one token every 10 s at 0.1/s" is exact rather
//! than subject to floating-point drift.

use jiff::Timestamp;

/// A token bucket with time as an explicit argument. A rate of zero (or
/// less) never grants a token: that is how Kubernetes stops evictions in a
/// zone.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBucket {
    qps: f64,
    burst: u32,
    /// Nanoseconds per token; `None` when the rate is zero.
    interval_ns: Option<i128>,
    /// The instant at which the bucket will be completely full again. Tokens
    /// are available now iff `now >= full_at - (burst - 1) * interval`.
    full_at_ns: i128,
}

impl TokenBucket {
    /// A bucket that starts full, as client-go's token bucket does: the
    /// first request after creation is always granted (if the rate is
    /// positive).
    pub fn new(qps: f64, burst: u32, now: Timestamp) -> Self {
        let interval_ns = if qps > 0.0 && qps.is_finite() {
            // Round to whole nanoseconds, at least one.
            Some(((1e9 / qps).round() as i128).max(1))
        } else {
            None
        };
        TokenBucket {
            qps,
            burst: burst.max(1),
            interval_ns,
            full_at_ns: now.as_nanosecond(),
        }
    }

    /// The configured rate in tokens per second.
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Takes one token if one is available at `now`.
    pub fn try_accept(&mut self, now: Timestamp) -> bool {
        let Some(interval) = self.interval_ns else {
            return false;
        };
        let now = now.as_nanosecond();
        let slack = i128::from(self.burst - 1) * interval;
        if now < self.full_at_ns - slack {
            return false;
        }
        self.full_at_ns = self.full_at_ns.max(now) + interval;
        true
    }

    /// The earliest instant at which [`try_accept`](Self::try_accept) would
    /// succeed, so the IO loop can sleep instead of polling; `None` if the
    /// rate is zero.
    pub fn next_token_at(&self, now: Timestamp) -> Option<Timestamp> {
        let interval = self.interval_ns?;
        let slack = i128::from(self.burst - 1) * interval;
        let at = (self.full_at_ns - slack).max(now.as_nanosecond());
        Some(Timestamp::from_nanosecond(at).unwrap_or(Timestamp::MAX))
    }

    /// Replaces the rate, as Kubernetes does when a zone changes state.
    ///
    /// The same rate is a no-op (so the bucket keeps its tokens). A new rate
    /// gets a fresh, full bucket, except that if the old bucket had no token
    /// to give right now the new one starts drained: otherwise every state
    /// flap would hand out a free eviction. Kubernetes' swap probes the old
    /// limiter with a real take, and so does this.
    pub fn set_qps(&mut self, qps: f64, now: Timestamp) {
        if qps == self.qps {
            return;
        }
        let old_was_empty = !self.try_accept(now);
        let mut fresh = TokenBucket::new(qps, self.burst, now);
        if old_was_empty {
            fresh.try_accept(now);
        }
        *self = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn at_ms(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_bucket_allows_one_eviction_per_ten_seconds_at_a_tenth_per_second() {
        let mut b = TokenBucket::new(0.1, 1, at(0));
        assert!(b.try_accept(at(0)), "a new bucket starts full");
        assert!(!b.try_accept(at(0)));
        assert!(!b.try_accept(at_ms(9_999)));
        assert!(b.try_accept(at(10)));
        assert!(!b.try_accept(at(15)));
        assert!(b.try_accept(at(20)));
        assert_eq!(b.next_token_at(at(21)), Some(at(30)));
    }

    #[test]
    fn over_a_minute_the_bucket_grants_exactly_seven_tokens_when_polled_every_second() {
        let mut b = TokenBucket::new(0.1, 1, at(0));
        let granted = (0..=60).filter(|s| b.try_accept(at(*s))).count();
        assert_eq!(granted, 7); // at 0, 10, 20, 30, 40, 50 and 60
    }

    #[test]
    fn idle_time_does_not_accumulate_beyond_the_burst() {
        let mut b = TokenBucket::new(0.1, 1, at(0));
        assert!(b.try_accept(at(1000)));
        assert!(!b.try_accept(at(1000)));
    }

    #[test]
    fn a_larger_burst_grants_that_many_tokens_at_once() {
        let mut b = TokenBucket::new(1.0, 3, at(0));
        assert!(b.try_accept(at(0)));
        assert!(b.try_accept(at(0)));
        assert!(b.try_accept(at(0)));
        assert!(!b.try_accept(at(0)));
        assert!(b.try_accept(at(1)));
    }

    #[test]
    fn a_zero_rate_never_grants_a_token() {
        let mut b = TokenBucket::new(0.0, 1, at(0));
        assert!(!b.try_accept(at(0)));
        assert!(!b.try_accept(at(1_000_000)));
        assert_eq!(b.next_token_at(at(0)), None);
    }

    #[test]
    fn swapping_to_a_new_rate_from_an_empty_bucket_starts_the_new_one_drained() {
        let mut b = TokenBucket::new(0.1, 1, at(0));
        assert!(b.try_accept(at(0)));
        b.set_qps(0.01, at(1));
        assert_eq!(b.qps(), 0.01);
        assert!(!b.try_accept(at(2)));
        assert!(b.try_accept(at(101)));
    }

    #[test]
    fn resuming_from_a_zero_rate_waits_one_interval_before_the_first_token() {
        // A stopped limiter never has a token, so the resumed one starts
        // drained: evictions resume gently after a disruption ends.
        let mut b = TokenBucket::new(0.0, 1, at(0));
        b.set_qps(0.1, at(5));
        assert!(!b.try_accept(at(5)));
        assert!(b.try_accept(at(15)));
    }

    #[test]
    fn swapping_to_a_new_rate_from_a_full_bucket_starts_the_new_one_full() {
        let mut b = TokenBucket::new(0.1, 1, at(0));
        b.set_qps(0.01, at(50));
        assert!(b.try_accept(at(50)));
    }

    #[test]
    fn setting_the_same_rate_keeps_the_bucket_state() {
        let mut b = TokenBucket::new(0.1, 1, at(0));
        assert!(b.try_accept(at(0)));
        b.set_qps(0.1, at(1));
        assert!(!b.try_accept(at(1)));
        assert!(b.try_accept(at(10)));
    }
}
