//! HTTP in, `lambda_http::Request` to the handler, HTTP out: what API Gateway does for a Lambda.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::json;
use shared::http::StatusCode;
use shared::{Ctx, Route};
use tokio::net::TcpListener;

use crate::body::{self, Refused};
use crate::loopback;

pub use crate::body::MAX_BODY_BYTES;

struct Gateway {
    ctx: Arc<Ctx>,
    /// A context of its own for a function, as each Lambda has (its own credentials, so its own
    /// IAM policy); functions not named here share `ctx`.
    per_function: HashMap<&'static str, Arc<Ctx>>,
    routes: Vec<Route>,
    /// What API Gateway puts in `requestContext.domainName`: this gateway's own host, from its
    /// configuration, never the client's `Host` header.
    domain: String,
}

/// The host of `base_url` (`http://127.0.0.1:3000/x` gives `127.0.0.1`).
fn host_of(base_url: &str) -> String {
    let authority = base_url.split("://").nth(1).unwrap_or("");
    let authority = authority.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_string(),
        _ => authority.to_string(),
    }
}

/// Binds nothing: serves `listener` until the task is dropped.
pub async fn serve(ctx: Arc<Ctx>, listener: TcpListener) {
    serve_per_function(ctx, HashMap::new(), listener).await
}

/// [`serve`], with the routes of each function named in `per_function` served on that context.
pub async fn serve_per_function(
    ctx: Arc<Ctx>,
    per_function: HashMap<&'static str, Arc<Ctx>>,
    listener: TcpListener,
) {
    let base_url = ctx.config.public_base_url.as_deref();
    let domain = host_of(base_url.unwrap_or(shared::config::LOCAL_BASE_URL));
    let gateway = Arc::new(Gateway {
        ctx,
        per_function,
        routes: crate::routes(),
        domain,
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.handle(req, peer).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Serves on a fresh task; returns the address (bind to port 0 for tests).
pub async fn spawn(
    ctx: Arc<Ctx>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, tokio::spawn(serve(ctx, listener))))
}

/// Where a request goes once its method, path and headers are known.
enum Dispatch<'g> {
    /// To this registry route, with these path parameters: its body is read.
    Route(&'g Route, HashMap<String, String>),
    /// The gateway answers itself, without the body.
    Answer(hyper::Response<Full<Bytes>>),
}

fn gateway_error(status: StatusCode, message: &str) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(
        json!({ "error": message }).to_string(),
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

impl Gateway {
    async fn handle(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let response = self.route(req, peer).await;
        tracing::info!(
            "{method} {path} {} {:.1}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        response
    }

    async fn route(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let deadline = Instant::now() + self.ctx.config.request_body_timeout;
        let (route, params) = match self.dispatch(&parts) {
            Dispatch::Route(route, params) => (route, params),
            Dispatch::Answer(answer) => {
                body::discard(body, &parts.headers, deadline).await;
                return answer;
            }
        };
        let bytes = match body::read(body, &parts.headers, deadline).await {
            Ok(bytes) => bytes,
            Err(Refused::TooLarge) => {
                return gateway_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The request body is too large.",
                )
            }
            Err(Refused::TooSlow) => {
                return gateway_error(
                    StatusCode::REQUEST_TIMEOUT,
                    "The request body took too long.",
                )
            }
            Err(Refused::Unreadable) => {
                return gateway_error(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.",
                )
            }
        };
        let request = to_lambda_request(parts, bytes, params, peer, &self.domain);
        let ctx = self.per_function.get(route.function).unwrap_or(&self.ctx);
        let response = route.call(ctx, request).await;
        let (parts, body) = response.into_parts();
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Text(t) => Bytes::from(t),
            Body::Binary(b) => Bytes::from(b),
            _ => Bytes::new(),
        };
        hyper::Response::from_parts(parts, Full::new(bytes))
    }

    /// The answer of a local tool (`/_local/…`, `/docs`, `/openapi.yaml`) when the request is for
    /// one: 421 unless it was made under a loopback name (or the configured one), see
    /// [`crate::loopback`].
    fn local_tool(&self, parts: &http::request::Parts) -> Option<hyper::Response<Full<Bytes>>> {
        let path = parts.uri.path();
        if !loopback::is_local_tool(path) {
            return None;
        }
        if !self.named_locally(parts) {
            return Some(gateway_error(
                StatusCode::MISDIRECTED_REQUEST,
                loopback::NOT_LOCAL,
            ));
        }
        if path.trim_end_matches('/') == "/_local/outbox" && parts.method == http::Method::GET {
            return Some(self.outbox(parts.uri.query()));
        }
        if let Some(page) = crate::docs::serve(&parts.method, path) {
            return Some(page);
        }
        match path.strip_prefix("/_local/blobs/") {
            Some(key) if parts.method == http::Method::GET => {
                Some(self.blob(key, parts.uri.query()))
            }
            _ => None,
        }
    }

    /// Whether the request names this machine: by the request target's authority when it has
    /// one (which then overrides `Host`), else by its one `Host` header.
    fn named_locally(&self, parts: &http::request::Parts) -> bool {
        let mut hosts = parts.headers.get_all(http::header::HOST).iter();
        let authority = match (parts.uri.authority(), hosts.next(), hosts.next()) {
            (Some(authority), _, _) => authority.as_str(),
            (None, Some(host), None) => host.to_str().unwrap_or(""),
            _ => return false,
        };
        loopback::is_loopback_authority(authority)
            || loopback::authority_is(authority, &self.domain)
    }

    /// Where the request goes: a local tool's answer, a registry route, or 404 or 405 (with
    /// `Allow`).
    fn dispatch(&self, parts: &http::request::Parts) -> Dispatch<'_> {
        if let Some(answer) = self.local_tool(parts) {
            return Dispatch::Answer(answer);
        }
        match crate::match_route(&self.routes, &parts.method, parts.uri.path()) {
            Ok((route, params)) => Dispatch::Route(route, params),
            Err(true) => {
                let mut r = gateway_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
                let allow = shared::route::allowed_methods(&self.routes, parts.uri.path());
                if let Ok(v) = http::HeaderValue::from_str(&allow) {
                    r.headers_mut().insert(http::header::ALLOW, v);
                }
                Dispatch::Answer(r)
            }
            Err(false) => Dispatch::Answer(gateway_error(StatusCode::NOT_FOUND, "Not found.")),
        }
    }
}

impl Gateway {
    /// `GET /_local/blobs/<key>?expires=…&sig=…`: the embedded backend's stand-in for an S3
    /// presigned URL — the same expiry, refused once expired or tampered with.
    fn blob(&self, key: &str, query: Option<&str>) -> hyper::Response<Full<Bytes>> {
        let params: HashMap<String, String> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        let expires = params
            .get("expires")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let sig = params.get("sig").map(String::as_str).unwrap_or("");
        let blobs = shared::blob::LocalBlobs::new(
            self.ctx.config.blob_dir.clone(),
            String::new(), // only checks signatures here; makes no URLs
            self.ctx.config.blob_url_key.clone().unwrap_or_default(),
        );
        let Some((bytes, meta)) = blobs.open_signed(key, expires, sig, shared::now()) else {
            return gateway_error(
                StatusCode::FORBIDDEN,
                "The link has expired or is not valid.",
            );
        };
        let mut r = hyper::Response::new(Full::new(Bytes::from(bytes)));
        let h = r.headers_mut();
        if let Ok(v) = http::HeaderValue::from_str(&meta.content_type) {
            h.insert(http::header::CONTENT_TYPE, v);
        }
        if let Some(v) = meta
            .disposition
            .and_then(|d| http::HeaderValue::from_str(&d).ok())
        {
            h.insert(http::header::CONTENT_DISPOSITION, v);
        }
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("private, no-store"),
        );
        h.insert(
            "x-content-type-options",
            http::HeaderValue::from_static("nosniff"),
        );
        r
    }

    /// `GET /_local/outbox[?to=address]`: what the embedded backend "sent", oldest first, so a
    /// person trying the API locally can read their verification link and sign-in code.
    fn outbox(&self, query: Option<&str>) -> hyper::Response<Full<Bytes>> {
        let to: Option<String> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == "to")
                .map(|(_, v)| v.to_lowercase());
        let messages: Vec<_> = shared::notify::Outbox::read(&self.ctx.config.outbox_path)
            .into_iter()
            .filter(|m| to.as_deref().is_none_or(|t| m.to.to_lowercase() == t))
            .collect();
        let mut r = hyper::Response::new(Full::new(Bytes::from(
            serde_json::to_vec(&messages).unwrap_or_default(),
        )));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// Builds the request a Lambda behind API Gateway (HTTP API, payload v2) would receive.
fn to_lambda_request(
    parts: http::request::Parts,
    bytes: Bytes,
    params: HashMap<String, String>,
    peer: SocketAddr,
    domain: &str,
) -> lambda_http::Request {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let mut query_map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in query {
        query_map.entry(k).or_default().push(v);
    }
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.request_id = Some(shared::jwt::random_id());
    context.stage = Some("$default".into());
    context.domain_name = Some(domain.to_string());
    context.domain_prefix = domain.split('.').next().map(str::to_string);
    context.time_epoch = shared::now() * 1000;
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_string());
    context.http.source_ip = Some(peer.ip().to_string());
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    http::Request::from_parts(parts, body)
        .with_path_parameters(params)
        .with_query_string_parameters(query_map)
        .with_request_context(RequestContext::ApiGatewayV2(context))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_domain_is_the_configured_host_without_port_or_path() {
        assert_eq!(super::host_of("http://127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(
            super::host_of("https://api.bank.example/fintract"),
            "api.bank.example"
        );
        assert_eq!(super::host_of("http://localhost"), "localhost");
    }
}
