//! The wiring every function binary uses: build the context once, then serve the function's
//! routes (one, or several dispatched by method and path).

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

/// Runs one function of the registry (its `&[Route]` const) until the runtime stops it. A
/// function of one route answers every request with it (API Gateway sends it nothing else); one
/// of several dispatches each request by method and path.
pub async fn run(routes: &'static [Route]) -> Result<(), lambda_http::Error> {
    crate::alloc::return_large_allocations_to_the_system();
    init_json_logs();
    let ctx = Ctx::from_env().await?;
    if let Some(route) = routes.first() {
        crate::signing::check_held(route.function, &ctx.config)?;
    }
    let ctx = Arc::new(ctx);
    lambda_http::run(service_fn(move |req: Request| {
        let ctx = ctx.clone();
        async move {
            let response = match routes {
                [route] => route.call(&ctx, req).await,
                _ => dispatch(routes, &ctx, req).await,
            };
            Ok::<_, lambda_http::Error>(response)
        }
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
    crate::registry! {
        PAIR = "pair" {
            GET "/pair/" => first, Public, uncounted;
            POST "/pair/{id}/" => second, Code;
        }
    }

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
        let rows = ctx
            .store
            .read_hour(hour, ctx.config.counter_parts())
            .await
            .unwrap();
        let counted: u64 = rows.values().map(|f| f.tally.requests()).sum();
        assert_eq!(
            counted, 1,
            "only the counted route's answer is counted: {rows:?}"
        );
    }
}
