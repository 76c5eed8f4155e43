//! Per-caller token buckets, in memory: each caller may send `burst` requests at once, then
//! `per_minute` a minute. Several `simbench serve` processes each apply the limit on their own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Whose requests a bucket counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum RateKey {
    Token(String),
    /// Requests without a token (public reads), by client address.
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    available: f64,
    updated: Instant,
}

pub(super) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    by_key: HashMap<RateKey, Bucket>,
    /// Size at which idle buckets are next swept out, so that many one-off client addresses
    /// cannot grow the map without bound.
    sweep_at: usize,
}

const MIN_SWEEP_AT: usize = 10_000;

impl RateLimiter {
    /// `None` when `per_minute` is 0 (no limit).
    pub(super) fn new(per_minute: u32, burst: u32) -> Option<RateLimiter> {
        (per_minute > 0).then(|| RateLimiter {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        })
    }

    /// Takes one request from the caller's bucket, or says how long until one is available.
    pub(super) fn check(&self, key: RateKey) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: RateKey, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.by_key.len() >= buckets.sweep_at {
            buckets
                .by_key
                .retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
            buckets.sweep_at = MIN_SWEEP_AT.max(2 * buckets.by_key.len());
        }
        let bucket = buckets.by_key.entry(key).or_insert(Bucket {
            available: self.burst,
            updated: now,
        });
        bucket.available = self.refilled(*bucket, now);
        bucket.updated = now;
        if bucket.available >= 1.0 {
            bucket.available -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.available) / self.per_second,
            ))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.available + elapsed * self.per_second).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> RateKey {
        RateKey::Token(name.to_owned())
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let limiter = RateLimiter::new(60, 3).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(token("a"), start).is_ok());
        }
        let wait = limiter.check_at(token("a"), start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(limiter.check_at(token("b"), start).is_ok(), "per caller");
        let later = start + Duration::from_millis(1500);
        assert!(limiter.check_at(token("a"), later).is_ok());
        let wait = limiter.check_at(token("a"), later).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        let much_later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limiter.check_at(token("a"), much_later).is_ok());
        }
        assert!(
            limiter.check_at(token("a"), much_later).is_err(),
            "never more than the burst"
        );
    }

    #[test]
    fn zero_per_minute_means_no_limit_and_idle_buckets_are_swept() {
        assert!(RateLimiter::new(0, 10).is_none());
        let limiter = RateLimiter::new(60, 1).unwrap();
        let start = Instant::now();
        for index in 0..MIN_SWEEP_AT as u32 {
            let address = IpAddr::from(index.to_be_bytes());
            assert!(limiter.check_at(RateKey::Address(address), start).is_ok());
        }
        assert!(
            limiter
                .check_at(token("late"), start + Duration::from_secs(2))
                .is_ok()
        );
        let buckets = limiter.buckets.lock().unwrap();
        assert_eq!(buckets.by_key.len(), 1, "refilled buckets were dropped");
    }
}
