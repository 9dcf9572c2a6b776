//! The time the server runs on, passed to the writer, the sender, the
//! pusher and retention (and read by the HTTP doors through their state),
//! so that a test sets it instead of sleeping: the 24-hour window, retry
//! back-off and retention are all decided by this clock.
//!
//! It is the system clock plus an offset. The offset starts at zero and
//! only a test moves it ([`Clock::advance`]); time keeps flowing either
//! way, so timeouts of real I/O still fire. This file is the one place the
//! server reads the system's wall clock for business time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::Timestamp;

/// A shared, cheap-to-clone clock: every clone sees the same offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock (production).
    pub fn system() -> Self {
        Self::default()
    }

    /// Milliseconds since 1970, UTC.
    pub fn now_ms(&self) -> u64 {
        let wall = wall_ms() as i64;
        wall.saturating_add(self.offset_ms.load(Relaxed)).max(0) as u64
    }

    /// Seconds since 1970, UTC.
    pub fn now_seconds(&self) -> i64 {
        (self.now_ms() / 1000) as i64
    }

    /// The current time, to the second.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix_seconds(self.now_seconds())
    }

    /// Moves this clock (and every clone of it) forward by `by`. A worker
    /// waiting for a due time wakes within its idle period (at most 1 s)
    /// and finds it passed.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(by, Relaxed);
    }
}

/// The system's wall clock, in milliseconds since 1970: what [`Clock`]
/// adds its offset to, and what measures the writer's own progress for
/// `/healthz` (real time, which a test's offset must not make look stuck).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_offset_and_time_still_flows() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now_ms();
        clock.advance(Duration::from_secs(25 * 3600));
        let after = other.now_ms();
        assert!(after >= before + 25 * 3600 * 1000, "{before} → {after}");
        assert!(after < before + 25 * 3600 * 1000 + 60_000);
        assert_eq!(other.now_seconds(), (other.now_ms() / 1000) as i64);
    }
}
