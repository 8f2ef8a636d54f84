//! Request parsing at the boundary and JSON responses: bodies become a JSON object (from JSON or
//! form encoding), which [`crate::fields::Fields`] then reads as typed fields.

pub use http::StatusCode;
use http::{header, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The largest JSON or form body an endpoint reads; uploads have their own limit.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A JSON response with the headers every API answer carries.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::Text(String::from_utf8(bytes).unwrap_or_default()));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The body as a JSON object: JSON, or `application/x-www-form-urlencoded` fields as strings.
pub fn body_object(req: &Request) -> ApiResult<Map<String, Value>> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The request body is larger than {} KiB.",
                MAX_JSON_BODY / 1024
            ),
        ));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("The request body is empty."));
    }
    // `curl -d '{…}'` labels JSON as a form: a body that opens with `{` is read as JSON.
    let looks_like_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match content_type.as_str() {
        "application/x-www-form-urlencoded" if looks_like_json => body_object_as_json(bytes),
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
                .map_err(|_| ApiError::bad_request("The form body could not be read."))?;
            Ok(pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect())
        }
        "" | "application/json" | "text/plain" => body_object_as_json(bytes),
        other if other.ends_with("+json") => body_object_as_json(bytes),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the body as application/json or application/x-www-form-urlencoded.",
        )),
    }
}

fn body_object_as_json(bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}."))),
    }
}

/// The first value of query parameter `name`, trimmed.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(|v| v.trim().to_string())
}

/// The bearer token from `Authorization: Bearer …`, or the DFCU `auth_key` header.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let from_authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    from_authorization
        .or_else(|| {
            let raw = req.headers().get("auth_key")?.to_str().ok()?.trim();
            Some(match raw.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => raw,
            })
        })
        .filter(|t| !t.is_empty())
}

/// The caller's address as API Gateway saw it (used for per-source throttling).
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
}

/// The request id API Gateway (or the local gateway) gave this request.
pub fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
    .unwrap_or_else(|| "-".into())
}

/// The stage API Gateway served the request under, unless it is the `$default` stage (which
/// adds nothing to URLs). The local gateway serves `$default`.
fn named_stage(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .stage
            .as_deref()
            .filter(|s| !s.is_empty() && *s != "$default"),
        _ => None,
    }
}

/// The path the client asked for, as sent (on Lambda, `rawPath`, which keeps a stage prefix).
fn raw_path(req: &Request) -> &str {
    match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    }
}

/// The path to match against the route table: API Gateway's matched route key when there is one,
/// else the request path without a stage prefix (`/prod/api/` and `/api/` both give `/api/`).
pub fn route_path(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        let key = ctx.route_key.as_deref().unwrap_or("");
        if let Some((_, path)) = key.split_once(' ') {
            return path.to_string();
        }
    }
    let path = raw_path(req);
    named_stage(req)
        .and_then(|stage| path.strip_prefix(&format!("/{stage}")))
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path)
        .to_string()
}

/// What links and cookie paths must start with for the client to reach this API again: `/prod`
/// behind a named stage's default URL, empty on `$default` or a custom domain.
pub fn base_path(req: &Request) -> String {
    let Some(stage) = named_stage(req) else {
        return String::new();
    };
    let safe = stage
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if safe && raw_path(req).starts_with(&format!("/{stage}/")) {
        format!("/{stage}")
    } else {
        String::new()
    }
}

/// The URL clients reached this API at, from what API Gateway puts in the request context (the
/// domain that received the request and the stage prefix in its path), never from the `Host`
/// header, which a client chooses. API Gateway serves HTTPS only.
pub fn gateway_base_url(req: &Request) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let domain = ctx.domain_name.as_deref()?;
    let hostname = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    hostname.then(|| format!("https://{}{}", domain.to_ascii_lowercase(), base_path(req)))
}

/// A path parameter as given, if the route has it.
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
}

/// A path parameter that must be a user id: a positive whole number that fits in 53 bits,
/// written the one way the API writes it (no sign, no leading zero), so `/users/01/` is not a
/// second name for `/users/1/` in logs, caches and rate-limit keys.
pub fn path_id(req: &Request, name: &str) -> ApiResult<u64> {
    let raw = req
        .path_parameters_ref()
        .and_then(|p| p.first(name))
        .unwrap_or("");
    let canonical = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    match raw.parse::<u64>() {
        Ok(n) if canonical && n < (1 << 53) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "The {name} in the path must be a positive whole number."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(content_type: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body)).unwrap()
    }

    #[test]
    fn json_and_form_bodies_give_the_same_object() {
        let a = body_object(&req(Some("application/json"), r#"{"username":"a b"}"#)).unwrap();
        let b = body_object(&req(
            Some("application/x-www-form-urlencoded"),
            "username=a+b",
        ))
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn json_sent_with_a_form_content_type_is_read_as_json() {
        let r = req(Some("application/x-www-form-urlencoded"), r#" {"a":"b"}"#);
        assert_eq!(body_object(&r).unwrap()["a"], "b");
        let r = req(Some("application/x-www-form-urlencoded"), r#"{"a":"#);
        assert!(body_object(&r)
            .unwrap_err()
            .message
            .starts_with("Malformed JSON"));
    }

    #[test]
    fn bad_bodies_are_400_or_413_or_415() {
        let status = |r: Request| body_object(&r).unwrap_err().status.as_u16();
        assert_eq!(status(req(None, "")), 400);
        assert_eq!(status(req(None, "{not json")), 400);
        assert_eq!(status(req(None, "[1,2]")), 400);
        assert_eq!(status(req(None, "\"text\"")), 400);
        assert_eq!(status(req(Some("application/xml"), "<a/>")), 415);
        let huge = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_JSON_BODY));
        assert_eq!(status(req(None, &huge)), 413);
    }

    #[test]
    fn bearer_comes_from_authorization_or_auth_key() {
        let r = http::Request::builder()
            .header("authorization", "bearer abc")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(bearer_token(&r), Some("abc"));
        let r = http::Request::builder()
            .header("auth_key", "xyz")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(bearer_token(&r), Some("xyz"));
        let r = http::Request::builder()
            .header("authorization", "Basic abc")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(bearer_token(&r), None);
    }

    fn behind_stage(stage: &str, raw: &str, route_key: Option<&str>) -> Request {
        let mut ctx =
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        ctx.stage = Some(stage.to_string());
        ctx.route_key = route_key.map(String::from);
        http::Request::builder()
            .uri(format!("https://example.com/{stage}{raw}"))
            .body(Body::Empty)
            .unwrap()
            .with_raw_http_path(format!("/{stage}{raw}"))
            .with_request_context(RequestContext::ApiGatewayV2(ctx))
    }

    fn at_domain(domain: Option<&str>, stage: &str, raw: &str, host: &str) -> Request {
        let mut ctx =
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        ctx.stage = Some(stage.to_string());
        ctx.domain_name = domain.map(str::to_string);
        http::Request::builder()
            .uri(format!("https://{host}{raw}"))
            .header("host", host)
            .body(Body::Empty)
            .unwrap()
            .with_raw_http_path(raw)
            .with_request_context(RequestContext::ApiGatewayV2(ctx))
    }

    #[test]
    fn the_base_url_comes_from_the_gateway_context_never_from_the_host_header() {
        let api = "abc123defg.execute-api.eu-west-1.amazonaws.com";
        let r = at_domain(Some(api), "$default", "/auth/register/", "evil.example");
        assert_eq!(
            gateway_base_url(&r).as_deref(),
            Some(&*format!("https://{api}"))
        );
        let r = at_domain(Some(api), "prod", "/prod/auth/register/", api);
        assert_eq!(
            gateway_base_url(&r).as_deref(),
            Some(&*format!("https://{api}/prod"))
        );
        // A custom domain maps the stage away: no prefix in the path, none in the links.
        let r = at_domain(Some("api.bank.example"), "prod", "/auth/register/", "x");
        assert_eq!(
            gateway_base_url(&r).as_deref(),
            Some("https://api.bank.example")
        );
        assert_eq!(
            gateway_base_url(&at_domain(None, "$default", "/a/", "evil.example")),
            None
        );
        for odd in ["", "evil.example/path", "evil.example?x", "a b"] {
            assert_eq!(
                gateway_base_url(&at_domain(Some(odd), "$default", "/a/", "x")),
                None,
                "{odd}"
            );
        }
    }

    #[test]
    fn the_route_path_and_base_path_leave_out_or_keep_the_stage() {
        let r = behind_stage("prod", "/api/login/", None);
        assert_eq!(route_path(&r), "/api/login/");
        assert_eq!(base_path(&r), "/prod");
        let r = behind_stage("prod", "/api", Some("GET /api"));
        assert_eq!(route_path(&r), "/api");
        assert_eq!(base_path(&r), "/prod");
        let local = http::Request::builder()
            .uri("/api/metrics.json")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(route_path(&local), "/api/metrics.json");
        assert_eq!(base_path(&local), "");
        let odd = behind_stage("p;x", "/api/", None);
        assert_eq!(
            base_path(&odd),
            "",
            "a stage name is never put in a link unchecked"
        );
    }

    #[test]
    fn path_ids_must_be_small_positive_numbers() {
        let with = |v: &str| {
            let mut m = std::collections::HashMap::new();
            m.insert("id".to_string(), v.to_string());
            Request::default().with_path_parameters(m)
        };
        assert_eq!(path_id(&with("42"), "id").unwrap(), 42);
        for bad in [
            "0",
            "-1",
            "abc",
            "99999999999999999999",
            "../1",
            "１２",
            "+5",
            "01",
            "007",
            "",
        ] {
            assert_eq!(path_id(&with(bad), "id").unwrap_err().status, 400, "{bad}");
        }
    }
}
