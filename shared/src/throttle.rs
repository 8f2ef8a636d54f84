//! Throttling: fixed windows of attempts per scope and key (an account, a source address),
//! counted in the store so that every instance of a function shares them.

use crate::error::{ApiError, ApiResult};
use crate::Ctx;

/// One attempt counted in one window, which [`Ctx::refund`] can take back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    key: String,
    window_start: i64,
}

impl Ctx {
    /// Counts an attempt on `scope:key`; 429 with `Retry-After` once more than `limit` fall in
    /// the current window of `window_secs`.
    pub async fn throttle(
        &self,
        scope: &str,
        key: &str,
        limit: u64,
        window_secs: i64,
    ) -> ApiResult<()> {
        self.count(scope, key, limit, window_secs).await.map(drop)
    }

    /// As [`Ctx::throttle`], and says which window counted the attempt.
    pub async fn count(
        &self,
        scope: &str,
        key: &str,
        limit: u64,
        window_secs: i64,
    ) -> ApiResult<Counted> {
        let now = self.now();
        let window_start = now - now.rem_euclid(window_secs);
        let key = format!("{scope}:{key}");
        let hits = self.store.hit(&key, window_start, window_secs).await?;
        if hits > limit.saturating_mul(self.config.throttle_multiplier) {
            return Err(ApiError::too_many_requests(
                (window_start + window_secs - now).max(1) as u64,
            ));
        }
        Ok(Counted { key, window_start })
    }

    /// Counts an attempt in two windows of `key`: `scope`'s of `window_secs`, and `scope-day`'s
    /// of a UTC day; a 429 from either leaves neither counted.
    pub async fn count_window_and_day(
        &self,
        scope: &str,
        key: &str,
        per_window: u64,
        window_secs: i64,
        per_day: u64,
    ) -> ApiResult<[Counted; 2]> {
        let window = self.count(scope, key, per_window, window_secs).await?;
        match self
            .count(&format!("{scope}-day"), key, per_day, 86_400)
            .await
        {
            Ok(day) => Ok([window, day]),
            Err(e) => {
                self.refund(&window).await;
                Err(e)
            }
        }
    }

    /// Takes back a counted attempt (best effort: a refund that fails leaves the count higher,
    /// never lower).
    pub async fn refund(&self, counted: &Counted) {
        if let Err(e) = self.store.refund(&counted.key, counted.window_start).await {
            tracing::warn!(error = %e, "throttle refund not recorded");
        }
    }

    /// Throttles per source address too (API Gateway's source IP), when there is one.
    pub async fn throttle_source(
        &self,
        scope: &str,
        req: &crate::Request,
        limit: u64,
        window_secs: i64,
    ) -> ApiResult<()> {
        match crate::http::source_ip(req) {
            Some(ip) => {
                self.throttle(scope, &format!("ip:{ip}"), limit, window_secs)
                    .await
            }
            None => Ok(()),
        }
    }
}
