//! The wiring every `main.rs` uses: build the context once, then serve one route.

use std::sync::Arc;

use lambda_http::{service_fn, Request};

use crate::{Ctx, Route};

/// Logs as JSON lines (CloudWatch), level from `RUST_LOG` (default `info`).
pub fn init_json_logs() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Runs `route` as a Lambda function until the runtime stops it.
pub async fn run(route: Route) -> Result<(), lambda_http::Error> {
    crate::password::return_large_allocations_to_the_system();
    init_json_logs();
    let ctx = Arc::new(Ctx::from_env().await?);
    let route = Arc::new(route);
    lambda_http::run(service_fn(move |req: Request| {
        let (ctx, route) = (ctx.clone(), route.clone());
        async move { Ok::<_, lambda_http::Error>(route.call(&ctx, req).await) }
    }))
    .await
}
