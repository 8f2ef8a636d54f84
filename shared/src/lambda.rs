//! The wiring every `main.rs` uses: build the context once, then serve one route, or several
//! routes of one crate dispatched by method and path.

use std::sync::Arc;

use lambda_http::{service_fn, Body, Request, Response};

use crate::http::{json, StatusCode};
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

/// Runs the routes of a crate that serves several as one Lambda function: each request goes to
/// the route its method and path match (API Gateway sends the function only its own routes).
pub async fn run_routes(routes: &'static [Route]) -> Result<(), lambda_http::Error> {
    crate::password::return_large_allocations_to_the_system();
    init_json_logs();
    let ctx = Arc::new(Ctx::from_env().await?);
    lambda_http::run(service_fn(move |req: Request| {
        let ctx = ctx.clone();
        async move { Ok::<_, lambda_http::Error>(dispatch(routes, &ctx, req).await) }
    }))
    .await
}

/// Serves `req` with the route of `routes` it matches, or answers 404/405 as the gateway does.
pub async fn dispatch(routes: &[Route], ctx: &Arc<Ctx>, req: Request) -> Response<Body> {
    let path = crate::http::route_path(&req);
    match crate::route::match_route(routes, req.method(), &path) {
        Ok((route, _)) => route.call(ctx, req).await,
        Err(true) => {
            let mut r = json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "Method not allowed."}),
            );
            let allow = crate::route::allowed_methods(routes, &path);
            if let Ok(v) = http::HeaderValue::from_str(&allow) {
                r.headers_mut().insert(http::header::ALLOW, v);
            }
            r
        }

        Err(false) => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "Not found."}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::sqlite::SqliteStore;
    use crate::ApiResult;

    async fn first(_: &Ctx, _: Request) -> ApiResult<Response<Body>> {
        Ok(json(StatusCode::OK, &serde_json::json!({"route": "first"})))
    }
    async fn second(_: &Ctx, _: Request) -> ApiResult<Response<Body>> {
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({"route": "second"}),
        ))
    }
    crate::route!(FIRST = "pair", GET, "/pair/", first, Public, uncounted);
    crate::route!(SECOND = "pair", POST, "/pair/{id}/", second, Code);
    const PAIR: &[Route] = &[FIRST, SECOND];

    fn ctx(dir: &std::path::Path) -> Arc<Ctx> {
        let config = Config::embedded(dir.join("api.db"), vec![7; 32]);
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let outbox = Arc::new(crate::notify::Outbox::new(dir.join("outbox.jsonl")));
        let blobs = Arc::new(crate::blob::LocalBlobs::new(
            dir.join("blobs"),
            "http://x",
            vec![7; 32],
        ));
        Arc::new(Ctx::with_ports(config, store, outbox, blobs).unwrap())
    }

    fn request(method: &str, path: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::Empty)
            .unwrap()
    }

    #[tokio::test]
    async fn requests_go_to_the_route_of_their_method_and_path_and_only_counted_ones_count() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        let body = |r: Response<Body>| -> serde_json::Value {
            serde_json::from_slice(r.body().as_ref()).unwrap()
        };
        let r = dispatch(PAIR, &ctx, request("GET", "/pair")).await;
        assert_eq!(body(r)["route"], "first");
        let r = dispatch(PAIR, &ctx, request("POST", "/pair/3/")).await;
        assert_eq!(body(r)["route"], "second");
        let refused = dispatch(PAIR, &ctx, request("PUT", "/pair/")).await;
        assert_eq!(refused.status(), 405);
        assert_eq!(refused.headers()["allow"], "GET");

        assert_eq!(
            dispatch(PAIR, &ctx, request("GET", "/else/"))
                .await
                .status(),
            404
        );

        let hour = crate::metrics::hour_of(crate::now());
        let rows = ctx.store.read_hours(hour - 1, hour + 1).await.unwrap();
        let counted: u64 = rows
            .iter()
            .map(|r| r.positive + r.negative + r.failed)
            .sum();
        assert_eq!(
            counted, 1,
            "only the counted route's answer is counted: {rows:?}"
        );
    }
}
