//! What a function serves: its name, method and path, and its handler; and the one matcher that
//! picks a route for a method and path (the local gateway and multi-route Lambdas both use it).

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};

use crate::{ApiResult, Ctx};

/// A handler as the route table and the Lambda wiring hold it.
pub type Handler =
    fn(Arc<Ctx>, Request) -> futures::future::BoxFuture<'static, ApiResult<Response<Body>>>;

/// What a route asks of a bearer token presented to it: how the token must have been earned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assurance {
    /// Takes no bearer token (a sign-in, a link, or a credential of its own).
    Public,
    /// The DFCU password grant suffices (`amr` `pwd`); a token earned with the code does too.
    Password,
    /// A sign-in with the one-time code (`amr` holds `otp`): every Fintract route that takes a
    /// bearer token. A password-only token gets 403.
    Code,
}

impl Assurance {
    /// How README and the tests name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::Public => "none (no bearer token)",
            Assurance::Password => "password grant or code",
            Assurance::Code => "code sign-in only",
        }
    }
}

/// An endpoint as the registry publishes it: everything about a route but its handler. The
/// dashboard lists these, so that reading the list does not link every handler into its binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The Lambda function serving it: its binary, its counters and its template entry.
    pub function: &'static str,
    pub method: http::Method,
    /// The published path with its trailing slash; `{name}` marks a path parameter.
    pub path: &'static str,
    /// What a bearer token presented to it must carry (`Ctx::authenticate` checks it).
    pub assurance: Assurance,
    /// Whether its responses count as API traffic on the dashboard. Every API route is counted;
    /// the dashboard's own pages are not, so that watching the figures does not move them.
    pub counted: bool,
}

impl Endpoint {
    /// The name its answers are counted under: `<function> <METHOD> <path>`, so that a function
    /// of several routes has figures per route. Counts kept before routes were counted apart are
    /// under the function's bare name ([`function_of`] reads either).
    pub fn counter_key(&self) -> String {
        format!("{} {} {}", self.function, self.method, self.path)
    }
}

/// The function a counted name belongs to: a [`Endpoint::counter_key`], or a bare function name.
pub fn function_of(counter_key: &str) -> &str {
    counter_key.split(' ').next().unwrap_or(counter_key)
}

/// One route of a function: its [`Endpoint`] and the handler that serves it.
#[derive(Clone)]
pub struct Route {
    pub endpoint: Endpoint,
    pub handler: Handler,
}

impl std::ops::Deref for Route {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.function)
    }
}

/// The route registry: one table of every function and its routes, from which the Lambda
/// binaries, the local gateway, the dashboard's endpoint list and the template and OpenAPI
/// checks all read. Each entry is a function (a const naming its routes, and its name), then
/// its routes: method, path, handler (`async fn(&Ctx, Request) -> ApiResult<Response<Body>>`),
/// the [`Assurance`] a bearer token presented to it needs, and `uncounted` for a route whose
/// responses are not API traffic.
///
/// ```text
/// shared::registry! {
///     /// The DFCU password grant.
///     TOKEN = "token" {
///         POST "/token/" => token::handle, Public;
///     }
/// }
/// ```
///
/// Declares, beside each function's `&[Route]` const: `ROUTES` (every function's routes, in
/// order, for the gateway), `ENDPOINTS` (the same without handlers) and `FUNCTIONS` (the names).
#[macro_export]
macro_rules! registry {
    ($(
        $(#[$doc:meta])*
        $konst:ident = $function:literal {
            $( $method:ident $path:literal => $handle:path, $assurance:ident $(, $uncounted:ident)? ; )+
        }
    )+) => {
        $(
            $(#[$doc])*
            pub const $konst: &[$crate::Route] = &[$(
                $crate::Route {
                    endpoint: $crate::registry!(@endpoint $function, $method, $path, $assurance $(, $uncounted)?),
                    handler: |ctx, req| ::std::boxed::Box::pin(async move { $handle(&ctx, req).await }),
                }
            ),+];
        )+

        /// Every function's routes, in registry order.
        #[allow(dead_code)] // a registry in a test module uses only some of them
        pub const ROUTES: &[&[$crate::Route]] = &[$($konst),+];

        /// Every route's endpoint, in registry order, without the handlers.
        #[allow(dead_code)] // a registry in a test module uses only some of them
        pub const ENDPOINTS: &[$crate::route::Endpoint] = &[$($(
            $crate::registry!(@endpoint $function, $method, $path, $assurance $(, $uncounted)?)
        ),+),+];

        /// Every function's name, in registry order: its binary, its event file, its template entry.
        #[allow(dead_code)] // a registry in a test module uses only some of them
        pub const FUNCTIONS: &[&str] = &[$($function),+];
    };
    (@endpoint $function:literal, $method:ident, $path:literal, $assurance:ident) => {
        $crate::registry!(@endpoint $function, $method, $path, $assurance, counted)
    };
    (@endpoint $function:literal, $method:ident, $path:literal, $assurance:ident, $counting:ident) => {
        $crate::route::Endpoint {
            function: $function,
            method: $crate::Method::$method,
            path: $path,
            assurance: $crate::route::Assurance::$assurance,
            counted: $crate::registry!(@counted $counting),
        }
    };
    (@counted counted) => { true };
    (@counted uncounted) => { false };
}

impl Route {
    /// Serves one request: runs the handler, turns any error (or panic) into its JSON answer,
    /// logs server-side failures with the request id, and counts the outcome once (if counted).
    pub async fn call(&self, ctx: &Arc<Ctx>, mut req: Request) -> Response<Body> {
        use futures::FutureExt;
        let request_id = crate::http::request_id(&req);
        // What the handler's `authenticate` holds a bearer token to.
        req.extensions_mut().insert(self.assurance);
        let started = std::time::Instant::now();
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
        if self.counted {
            let took = started.elapsed();
            let key = self.counter_key();
            crate::metrics::count(ctx, &key, self.function, response.status().as_u16(), took).await;
        }
        response
    }
}

/// The route for `method` and `path` (with or without its trailing slash) and its path
/// parameters; `Err(true)` if the path exists under another method, `Err(false)` if not at all.
pub fn match_route<'r>(
    table: &'r [Route],
    method: &http::Method,
    path: &str,
) -> Result<(&'r Route, HashMap<String, String>), bool> {
    let mut path_known = false;
    for route in table {
        if let Some(params) = match_path(route.path, path) {
            if route.method == *method {
                return Ok((route, params));
            }
            path_known = true;
        }
    }
    Err(path_known)
}

/// The methods `table` serves at `path`, for the `Allow` header of a 405 (RFC 9110 §15.5.6).
pub fn allowed_methods(table: &[Route], path: &str) -> String {
    let methods: Vec<&str> = table
        .iter()
        .filter(|r| match_path(r.path, path).is_some())
        .map(|r| r.method.as_str())
        .collect();
    methods.join(", ")
}

/// Whether `path` (with or without its trailing slash) is an instance of `template`.
pub fn path_matches(template: &str, path: &str) -> bool {
    match_path(template, path).is_some()
}

fn match_path(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let (t, p) = (segments(template)?, segments(path)?);
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (t, p) in t.iter().zip(&p) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => {
                params.insert(name.to_string(), p.to_string());
            }
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

/// `/a/b/` and `/a/b` give `[a, b]`; an empty segment (`//`) matches nothing.
fn segments(path: &str) -> Option<Vec<&str>> {
    let inner = path.strip_prefix('/')?;
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let parts: Vec<&str> = inner.split('/').collect();
    parts.iter().all(|s| !s.is_empty()).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{json, StatusCode};

    async fn ok(_: &Ctx, _: Request) -> ApiResult<Response<Body>> {
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    crate::registry! {
        SINGLE = "single" {
            POST "/single/" => ok, Password;
        }
        MULTI = "multi" {
            GET "/multi/" => ok, Public, uncounted;
            POST "/multi/{id}/" => ok, Code;
        }
    }

    #[test]
    fn the_registry_declares_counted_and_uncounted_routes() {
        let (route, page, action) = (&SINGLE[0], &MULTI[0], &MULTI[1]);
        assert_eq!(
            (route.function, route.path, route.counted),
            ("single", "/single/", true)
        );
        assert_eq!(
            (page.function, page.method.clone(), page.counted),
            ("multi", http::Method::GET, false)
        );
        assert_eq!(
            (action.method.clone(), action.counted),
            (http::Method::POST, true)
        );
        assert_eq!(
            [route.assurance, page.assurance, action.assurance],
            [Assurance::Password, Assurance::Public, Assurance::Code]
        );
    }

    #[test]
    fn the_registry_lists_every_route_endpoint_and_function_in_order() {
        assert_eq!(FUNCTIONS, ["single", "multi"]);
        assert_eq!(ROUTES.iter().map(|r| r.len()).collect::<Vec<_>>(), [1, 2]);
        let listed: Vec<_> = ENDPOINTS.iter().map(|e| (e.function, e.path)).collect();
        assert_eq!(
            listed,
            [
                ("single", "/single/"),
                ("multi", "/multi/"),
                ("multi", "/multi/{id}/")
            ]
        );
        assert_eq!(ENDPOINTS[1], MULTI[0].endpoint);
    }

    #[test]
    fn a_route_is_found_by_method_and_path_with_or_without_the_slash() {
        let table = [SINGLE[0].clone(), MULTI[0].clone(), MULTI[1].clone()];
        let found = |m: http::Method, p: &str| match_route(&table, &m, p).map(|(r, _)| r.path);
        assert_eq!(found(http::Method::POST, "/single"), Ok("/single/"));
        assert_eq!(found(http::Method::GET, "/multi/"), Ok("/multi/"));
        assert_eq!(found(http::Method::POST, "/multi/7"), Ok("/multi/{id}/"));
        assert_eq!(found(http::Method::GET, "/single/"), Err(true));
        assert_eq!(found(http::Method::GET, "/nowhere/"), Err(false));
        assert_eq!(found(http::Method::POST, "//single//"), Err(false));
    }

    #[test]
    fn parameters_are_taken_from_the_path() {
        assert_eq!(
            match_path("/auth/login/{id}/", "/auth/login/42/").unwrap()["id"],
            "42"
        );
        assert!(match_path("/auth/login/{id}/", "/auth/login//").is_none());
        assert!(match_path("/auth/login/{id}/", "/auth/login/1/2/").is_none());
    }
}
