//! Request counting for the dashboard: once per request, by status class, per function and hour,
//! on a random shard so that no single counter item gets hot.

use rand::Rng;

use crate::store::StatusClass;
use crate::Ctx;

/// The hour bucket a Unix time falls in.
pub fn hour_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(3600)
}

/// The most counting may add to a response: a slow counter table loses counts, not time.
pub const COUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts one response of `function`. A failure is logged and never reaches the client.
pub async fn count(ctx: &Ctx, function: &str, status: u16) {
    let Some(class) = StatusClass::of(status) else {
        return;
    };
    let shard = rand::thread_rng().gen_range(0..ctx.config.counter_shards);
    let add = ctx.store.add(function, hour_of(crate::now()), shard, class);
    match tokio::time::timeout(COUNT_TIMEOUT, add).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(function, status, error = %e, "request not counted"),
        Err(_) => tracing::warn!(
            function,
            status,
            "request not counted: the counter table did not answer in time"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_start_on_the_hour() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(3599), 0);
        assert_eq!(hour_of(3600), 1);
        assert_eq!(hour_of(-1), -1);
    }

    #[test]
    fn only_2xx_4xx_5xx_are_counted() {
        assert_eq!(StatusClass::of(201), Some(StatusClass::Positive));
        assert_eq!(StatusClass::of(404), Some(StatusClass::Negative));
        assert_eq!(StatusClass::of(503), Some(StatusClass::Failed));
        assert_eq!(StatusClass::of(302), None);
    }
}
