//! What one function serves: its name, method and path, and its handler.

use std::sync::Arc;

use lambda_http::{Body, Request, Response};

use crate::{ApiResult, Ctx};

/// A handler as the route table and the Lambda wiring hold it.
pub type Handler =
    fn(Arc<Ctx>, Request) -> futures::future::BoxFuture<'static, ApiResult<Response<Body>>>;

/// One function's route: `function` names its crate, its counters and its template entry.
#[derive(Clone)]
pub struct Route {
    pub function: &'static str,
    pub method: http::Method,
    /// The published path with its trailing slash; `{name}` marks a path parameter.
    pub path: &'static str,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.function)
    }
}

/// Declares a crate's `ROUTE` from its `handle` function.
#[macro_export]
macro_rules! route {
    ($function:literal, $method:ident, $path:literal, $handle:path) => {
        /// This function's entry in the route table.
        pub const ROUTE: $crate::Route = $crate::Route {
            function: $function,
            method: $crate::Method::$method,
            path: $path,
            handler: |ctx, req| ::std::boxed::Box::pin(async move { $handle(&ctx, req).await }),
        };
    };
}

impl Route {
    /// Serves one request: runs the handler, turns any error (or panic) into its JSON answer,
    /// logs server-side failures with the request id, and counts the outcome once.
    pub async fn call(&self, ctx: &Arc<Ctx>, req: Request) -> Response<Body> {
        use futures::FutureExt;
        let request_id = crate::http::request_id(&req);
        let outcome = std::panic::AssertUnwindSafe((self.handler)(ctx.clone(), req))
            .catch_unwind()
            .await;
        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                if e.status.is_server_error() {
                    tracing::error!(%request_id, function = self.function, error = ?e, "request failed");
                }
                e.to_response()
            }
            Err(_) => {
                tracing::error!(%request_id, function = self.function, "handler panicked");
                crate::ApiError::internal("handler panicked").to_response()
            }
        };
        crate::metrics::count(ctx, self.function, response.status().as_u16()).await;
        response
    }
}
