//! The time every expiry and lifetime is judged by: the system clock, which tests move forward
//! (the same way on every backend) instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch, plus an offset only tests set. Clones share the offset, so every
/// context built from one configuration sees the same time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        crate::now() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock (and its clones) `secs` seconds forward.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

impl crate::Ctx {
    /// Now, by the configuration's clock: what every expiry is judged by.
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_move_together_and_start_at_the_system_time() {
        let clock = Clock::default();
        let copy = clock.clone();
        assert!((clock.now() - crate::now()).abs() <= 1);
        copy.advance(3600);
        assert!((clock.now() - crate::now() - 3600).abs() <= 1);
    }
}
