//! Throttling: fixed windows of attempts per scope and key (an account, a source address),
//! counted in the store so that every instance of a function shares them.

use crate::error::{ApiError, ApiResult};
use crate::Ctx;

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
        let now = self.now();
        let window_start = now - now.rem_euclid(window_secs);
        let hits = self
            .store
            .hit(&format!("{scope}:{key}"), window_start, window_secs)
            .await?;
        if hits > limit.saturating_mul(self.config.throttle_multiplier) {
            return Err(ApiError::too_many_requests(
                (window_start + window_secs - now).max(1) as u64,
            ));
        }
        Ok(())
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
