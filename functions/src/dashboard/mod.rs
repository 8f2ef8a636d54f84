//! The API performance dashboard of the DFCU document, at `/api` (ARCHITECTURE.md §7).
//!
//! - `GET /api/`: the login page without a session; with one, the four figures (all-time and the
//!   last 24 hours), a chart of requests per hour and a table per endpoint.
//! - `POST /api/login/`: a username and password (form) of a BANK_ADMIN or FINTRACT_ADMIN account
//!   start a session cookie, and keep a device cookie for later sign-ins; anyone else is refused
//!   on the page. Wrong passwords are budgeted per account with the API's sign-in paths
//!   (`shared::signin`), and per source.
//! - `POST /api/logout/`: ends the session.
//! - `GET /api/metrics.json`: the same figures for scripts, for a session or an admin's bearer.
//!
//! None of these is counted as API traffic, so watching the figures does not move them.

mod chart;
pub(crate) mod html;
pub mod session;

use serde_json::{json, Value};
use shared::http::{base_path, json, StatusCode};
use shared::metrics::{error_rates, percentiles, FunctionFigures, Report};
use shared::model::{username_key, User};
use shared::password::{self, MAX_PASSWORD_CHARS};
use shared::route::Endpoint;
use shared::store::Figures;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

use html::Notice;
use session::{Session, SessionKey};

/// The throttling scope of dashboard sign-ins, and its limit per source in a window of 15
/// minutes, as for `POST /token/` (the per-account budget is the one all sign-in paths share).
const THROTTLE_SCOPE: &str = "dashboard-login";
const PER_SOURCE: u64 = 50;
const WINDOW_SECS: i64 = 900;

/// What the login page says to each refusal.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";
pub const NOT_AN_OPERATOR: &str =
    "This account cannot sign in to the dashboard: it is for bank and Fintract administrators only.";
pub const MISSING_FIELDS: &str = "Enter your username and password.";
pub const CROSS_SITE: &str = "This form can only be sent from the dashboard's own page.";
pub const SESSION_ENDED: &str = "Your session has ended. Please sign in again.";
pub const SIGNED_OUT: &str = "You have signed out.";
pub const SIGN_OUT_FAILED: &str =
    "You are not signed out yet: the session could not be ended just now. Please try again.";

/// Where a request's session stands.
enum Signed {
    /// No session cookie.
    Out,
    /// A cookie that no longer opens a session: expired, forged, or its user may no longer sign in.
    Ended,
    In(Box<User>),
}

/// The operator behind the request's session cookie. Re-reads the user every time, so a
/// deactivated account, a changed role or a bumped token version ends the session at once.
async fn signed(ctx: &Ctx, req: &Request) -> ApiResult<Signed> {
    let values = session::cookie_values(req);
    if values.is_empty() {
        return Ok(Signed::Out);
    }
    let key = session_key(ctx)?;
    let now = ctx.now();
    let Some(s) = values.iter().find_map(|v| key.open(v, now)) else {
        return Ok(Signed::Ended);
    };
    match ctx.store.user(s.user_id).await? {
        Some(user)
            if user.token_version == s.token_version
                && may_operate(&user)
                && !user.session_ended(&s.ended_id()) =>
        {
            Ok(Signed::In(Box::new(user)))
        }
        _ => Ok(Signed::Ended),
    }
}

/// The session the request's cookie opens, if any (signed and unexpired; its user unchecked).
fn cookie_session(ctx: &Ctx, req: &Request) -> Option<Session> {
    let key = SessionKey::of(ctx)?;
    let now = ctx.now();
    session::cookie_values(req)
        .iter()
        .find_map(|v| key.open(v, now))
}

fn session_key(ctx: &Ctx) -> ApiResult<SessionKey> {
    SessionKey::of(ctx).ok_or_else(|| ApiError::internal("no DASHBOARD_KEY configured"))
}

/// Bank and Fintract admins whose account may hold tokens (active, verified).
fn may_operate(user: &User) -> bool {
    user.user_type.is_admin() && user.may_hold_tokens()
}

/// A page for an unexpected failure: logged with its cause, shown as the fixed message.
fn or_error_page(result: ApiResult<Response<Body>>, base: &str) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(function = "dashboard", error = ?e, "dashboard page failed");
            }
            let message = if e.status.is_server_error() {
                shared::error::INTERNAL_MESSAGE
            } else {
                e.message.as_str()
            };
            html::response(e.status, html::error(base, message))
        }
    }
}

fn with_header(
    mut response: Response<Body>,
    name: http::HeaderName,
    value: &str,
) -> Response<Body> {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        response.headers_mut().append(name, v);
    }
    response
}

/// `303 See Other` to `location`, so a reload never re-sends a form.
fn see_other(location: &str, cookie: &str) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::SEE_OTHER;
    let r = with_header(r, http::header::LOCATION, location);
    let r = with_header(r, http::header::SET_COOKIE, cookie);
    with_header(r, http::header::CACHE_CONTROL, "no-store")
}

fn login_page(
    status: StatusCode,
    base: &str,
    notice: Option<Notice<'_>>,
    username: &str,
) -> Response<Body> {
    html::response(status, html::login(base, notice, username))
}

/// `GET /api/`: the dashboard for an operator, else the login page.
#[tracing::instrument(skip_all)]
pub async fn page(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let base = base_path(&req);
    let result = async {
        match signed(ctx, &req).await? {
            Signed::In(user) => {
                let now = ctx.now();
                let report =
                    shared::metrics::report(ctx.store.as_ref(), now, ctx.config.counter_parts())
                        .await?;
                let endpoints: Vec<_> = crate::counted().collect();
                let body = html::dashboard(&base, &user, &report, &endpoints, now);
                Ok(html::response(StatusCode::OK, body))
            }
            Signed::Ended => {
                let page = login_page(StatusCode::OK, &base, Some(Notice::Info(SESSION_ENDED)), "");
                let clear = session::clear_cookie(&base, session::over_https(ctx, &req));
                Ok(with_header(page, http::header::SET_COOKIE, &clear))
            }
            Signed::Out => {
                let signed_out = req
                    .uri()
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p == "signed_out=1"));
                let notice = signed_out.then_some(Notice::Info(SIGNED_OUT));
                Ok(login_page(StatusCode::OK, &base, notice, ""))
            }
        }
    }
    .await;
    Ok(or_error_page(result, &base))
}

/// The sign-in form's fields: a username and a password, each a non-blank string of bounded length.
fn credentials(req: &Request) -> Option<(String, String)> {
    let body = shared::http::body_object(req).ok()?;
    let username = body.get("username")?.as_str()?.trim();
    let password = body.get("password")?.as_str()?;
    let fits = |s: &str, max: usize| {
        !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    };
    (fits(username, 150) && fits(password, 4 * MAX_PASSWORD_CHARS))
        .then(|| (username.to_string(), password.to_string()))
}

/// A throttled attempt as a page (429 with `Retry-After`); any other failure is passed on.
fn throttled(e: ApiError, base: &str, username: &str) -> ApiResult<Response<Body>> {
    let Some(secs) = e
        .retry_after
        .filter(|_| e.status == StatusCode::TOO_MANY_REQUESTS)
    else {
        return Err(e);
    };
    let minutes = secs.div_ceil(60).max(1);
    let message = format!(
        "Too many sign-in attempts. Please wait {minutes} minute{} and try again.",
        if minutes == 1 { "" } else { "s" }
    );
    let page = login_page(e.status, base, Some(Notice::Error(&message)), username);
    Ok(with_header(
        page,
        http::header::RETRY_AFTER,
        &secs.to_string(),
    ))
}

/// `POST /api/login/`: starts a session for a bank or Fintract admin; refuses anyone else on the
/// login page (401 bad credentials, 403 not an operator or cross-site, 429 throttled).
#[tracing::instrument(skip_all)]
pub async fn login(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let base = base_path(&req);
    let result = async {
        if !session::same_origin(&req) {
            return Ok(login_page(
                StatusCode::FORBIDDEN,
                &base,
                Some(Notice::Error(CROSS_SITE)),
                "",
            ));
        }
        if let Err(e) = ctx
            .throttle_source(THROTTLE_SCOPE, &req, PER_SOURCE, WINDOW_SECS)
            .await
        {
            return throttled(e, &base, "");
        }
        let Some((username, password)) = credentials(&req) else {
            return Ok(login_page(
                StatusCode::BAD_REQUEST,
                &base,
                Some(Notice::Error(MISSING_FIELDS)),
                "",
            ));
        };
        let user = ctx.store.user_by_username(&username).await?;
        let device = session::device_token(&req);
        let attempt = match ctx
            .count_password_attempt(user.as_ref(), &username_key(&username), device.as_deref())
            .await
        {
            Ok(attempt) => attempt,
            Err(e) => return throttled(e, &base, &username),
        };
        // Verify against a dummy hash for unknown users: the answer takes as long either way.
        let matches =
            password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
        let refuse =
            |status, message| login_page(status, &base, Some(Notice::Error(message)), &username);
        let known_device = attempt.known_device();
        if matches {
            ctx.password_was_right(attempt).await;
        }
        match user {
            Some(user) if matches && user.may_hold_tokens() => {
                if !user.user_type.is_admin() {
                    return Ok(refuse(StatusCode::FORBIDDEN, NOT_AN_OPERATOR));
                }
                let cookie = session_key(ctx)?.seal(&Session::new(
                    user.id,
                    user.token_version,
                    ctx.now() + session::SESSION_SECS,
                ));
                tracing::info!(user_id = user.id, "dashboard sign-in");
                let secure = session::over_https(ctx, &req);
                let signed_in = see_other(
                    &format!("{base}/api/"),
                    &session::set_cookie(&cookie, &base, secure),
                );
                let how = "the operators' dashboard";
                let device = ctx
                    .device_token(&req, device.as_deref(), Some(known_device), &user, how)
                    .await;
                Ok(match device {
                    Some(device) => with_header(
                        signed_in,
                        http::header::SET_COOKIE,
                        &session::set_device_cookie(&device, &base, secure),
                    ),
                    None => signed_in,
                })
            }
            _ => Ok(refuse(StatusCode::UNAUTHORIZED, INVALID_CREDENTIALS)),
        }
    }
    .await;
    Ok(or_error_page(result, &base))
}

/// `POST /api/logout/`: ends the cookie's session, clears the cookie and shows the login page
/// again; a 503 page that keeps the cookie when the end could not be written.
#[tracing::instrument(skip_all)]
pub async fn logout(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let base = base_path(&req);
    if !session::same_origin(&req) {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            &base,
            Some(Notice::Error(CROSS_SITE)),
            "",
        ));
    }
    if let Ok(Signed::In(user)) = signed(ctx, &req).await {
        // A copy of the cookie kept from before opens nothing either.
        if let Some(s) = cookie_session(ctx, &req) {
            let now = ctx.now();
            // Until this is written a copy of the cookie still opens the dashboard, so a failure
            // is said as such, and the browser keeps its cookie to try again.
            if let Err(e) = ctx
                .modify_user(user.id, |u| {
                    u.end_session(&s.ended_id(), s.expires_at, now);
                    Ok(())
                })
                .await
            {
                tracing::error!(user_id = user.id, error = ?e, "dashboard session not ended");
                return Ok(html::response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    html::error(&base, SIGN_OUT_FAILED),
                ));
            }
        }
        tracing::info!(user_id = user.id, "dashboard sign-out");
    }
    let clear = session::clear_cookie(&base, session::over_https(ctx, &req));
    Ok(see_other(&format!("{base}/api/?signed_out=1"), &clear))
}

/// The rows the dashboard and `metrics.json` show: each listed endpoint with its figures, then
/// every counted name no endpoint claims.
pub(crate) struct Rows<'e> {
    pub listed: Vec<(&'e Endpoint, FunctionFigures)>,
    /// The name, what it is, and its figures.
    pub unlisted: Vec<(String, &'static str, FunctionFigures)>,
}

/// What an unlisted row of a function still served holds: its counts from before its routes
/// were counted apart.
pub(crate) const EARLIER_COUNTS: &str = "all its routes, counted before per-route figures";
/// What an unlisted row of anything else holds.
pub(crate) const NO_LONGER_SERVED: &str = "no longer served";

/// Sorts `report`'s figures into rows for `endpoints`. An endpoint's counts are under its
/// counter key; counts kept before routes were counted apart are under its function's name, and
/// join the endpoint's row when the function has no other route (else they keep a row of their
/// own: they cannot be split).
pub(crate) fn rows<'e>(report: &Report, endpoints: &[&'e Endpoint]) -> Rows<'e> {
    let routes_of = |function: &str| endpoints.iter().filter(|e| e.function == function).count();
    let mut claimed = std::collections::BTreeSet::new();
    let listed = endpoints
        .iter()
        .map(|e| {
            let key = e.counter_key();
            let mut figures = report.function(&key);
            claimed.insert(key);
            if routes_of(e.function) == 1 {
                figures.merge(&report.function(e.function));
                claimed.insert(e.function.to_string());
            }
            (*e, figures)
        })
        .collect();
    let unlisted = report
        .functions
        .iter()
        .filter(|(name, _)| !claimed.contains(*name))
        .map(|(name, figures)| {
            let what = if routes_of(name) > 0 {
                EARLIER_COUNTS
            } else {
                NO_LONGER_SERVED
            };
            (name.clone(), what, figures.clone())
        })
        .collect();
    Rows { listed, unlisted }
}

/// Milliseconds to the microsecond, as JSON.
fn ms_json(ms: f64) -> Value {
    json!((ms * 1000.0).round() / 1000.0)
}

/// Counts, error rates and durations of `f` as `metrics.json` writes them.
fn figures_json(f: &Figures) -> Value {
    let t = f.tally;
    let rates = error_rates(f);
    let latency = percentiles(f).map(|p| {
        json!({
            "p50": ms_json(p.p50),
            "p95": ms_json(p.p95),
            "p99": ms_json(p.p99),
            "max": ms_json(p.max),
            "timed_requests": f.latency.count(),
        })
    });
    json!({
        "requests": t.requests(),
        "failed": t.failed,
        "positive": t.positive,
        "negative": t.negative,
        "server_error_rate": rates.map(|r| r.0),
        "client_error_rate": rates.map(|r| r.1),
        "latency_ms": latency,
    })
}

fn hour_json(hour: i64) -> Value {
    json!(shared::utc::Utc::of(hour * 3_600).rfc3339())
}

/// The figures of `report` as `metrics.json` serves them.
pub fn metrics_body(report: &Report, now: i64) -> Value {
    let listed: Vec<&Endpoint> = crate::counted().collect();
    let rows = rows(report, &listed);
    let mut endpoints: Vec<Value> = rows
        .listed
        .iter()
        .map(|(e, f)| {
            json!({
                "function": e.function,
                "method": e.method.as_str(),
                "path": e.path,
                "all_time": figures_json(&f.all_time),
                "last_24_hours": figures_json(&f.recent),
            })
        })
        .collect();
    for (name, what, f) in &rows.unlisted {
        endpoints.push(json!({
            "function": shared::route::function_of(name),
            "method": null,
            "path": null,
            "counted_as": name,
            "note": what,
            "all_time": figures_json(&f.all_time),
            "last_24_hours": figures_json(&f.recent),
        }));
    }
    let hourly: Vec<Value> = report
        .hours
        .iter()
        .map(|h| {
            // An hour's figures as every other's, with its start, its p95 (the chart's line) and
            // the counts it lost.
            let mut hour = figures_json(&h.figures);
            hour["hour"] = hour_json(h.hour);
            hour["p95_ms"] = json!(h.figures.latency.quantile(0.95).map(ms_json));
            hour["lost"] = json!(h.lost);
            hour
        })
        .collect();
    let incomplete: Vec<Value> = report
        .losses
        .iter()
        .map(|(hour, lost)| json!({"hour": hour_json(*hour), "lost": lost}))
        .collect();
    json!({
        "generated_at": shared::utc::Utc::of(now).rfc3339(),
        "all_time": figures_json(&report.all_time),
        "last_24_hours": figures_json(&report.recent),
        "endpoints": endpoints,
        "hourly": hourly,
        "incomplete_hours": incomplete,
        "all_time_missing": report.catching_up.map(|(from, to)| json!({"from": hour_json(from), "to": hour_json(to)})),
        "counting": "Every API request is counted once by status class: positive 2xx, negative 4xx, failed 5xx; requests is their sum. A counting failure is logged and never fails the request; it is recorded apart, and incomplete_hours lists every hour that lost counts and how many. A client's retry is a new request and is counted again. The dashboard's own requests are not counted. latency_ms is the handler's duration (p50, p95, p99, max by nearest rank, within 5% of the exact value; counts kept before durations were recorded have none, so timed_requests can be fewer than requests); rates are shares of all requests.",
    })
}

/// `GET /api/metrics.json`: the figures as JSON, for a dashboard session or an admin's bearer
/// token; 401 without either, 403 for a token of anyone else.
#[tracing::instrument(skip_all)]
pub async fn metrics_json(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    if !matches!(signed(ctx, &req).await?, Signed::In(_)) {
        if shared::http::bearer_token(&req).is_none() {
            return Err(ApiError::unauthorized(
                "Sign in to the dashboard at /api, or send an administrator's bearer token.",
            ));
        }
        let user = ctx.authenticate(&req).await?;
        if !user.user_type.is_admin() {
            return Err(ApiError::forbidden(
                "Only bank and Fintract administrators can read the metrics.",
            ));
        }
    }
    let now = ctx.now();
    let report =
        shared::metrics::report(ctx.store.as_ref(), now, ctx.config.counter_parts()).await?;
    Ok(json(StatusCode::OK, &metrics_body(&report, now)))
}

#[cfg(test)]
mod tests {
    use shared::metrics::{FunctionFigures, Report};
    use shared::route::{Assurance, Endpoint};
    use shared::store::Tally;

    use super::*;

    fn endpoint(function: &'static str, method: shared::Method, path: &'static str) -> Endpoint {
        Endpoint {
            function,
            method,
            path,
            assurance: Assurance::Public,
            counted: true,
        }
    }

    fn figures(positive: u64) -> FunctionFigures {
        let mut f = FunctionFigures::default();
        f.all_time.tally = Tally {
            positive,
            ..Default::default()
        };
        f
    }

    #[test]
    fn counts_of_the_per_function_layout_join_a_sole_route_and_keep_a_row_for_several() {
        let loans = endpoint("loans", shared::Method::POST, "/api/accounts/loans/");
        let one = endpoint("logout", shared::Method::POST, "/auth/logout/");
        let all = endpoint("logout", shared::Method::POST, "/auth/logout-all/");
        let mut report = Report::empty(0);
        for (name, n) in [
            (loans.counter_key(), 3),
            ("loans".to_string(), 10), // counted before routes were counted apart
            (one.counter_key(), 1),
            (all.counter_key(), 2),
            ("logout".to_string(), 7),
            ("gone".to_string(), 5),
        ] {
            report.functions.insert(name, figures(n));
        }
        let rows = rows(&report, &[&loans, &one, &all]);
        let listed: Vec<u64> = rows
            .listed
            .iter()
            .map(|(_, f)| f.all_time.tally.positive)
            .collect();
        assert_eq!(
            listed,
            [13, 1, 2],
            "loans' earlier counts join its only route"
        );
        let unlisted: Vec<(&str, &str, u64)> = rows
            .unlisted
            .iter()
            .map(|(n, w, f)| (n.as_str(), *w, f.all_time.tally.positive))
            .collect();
        assert_eq!(
            unlisted,
            [("gone", NO_LONGER_SERVED, 5), ("logout", EARLIER_COUNTS, 7)]
        );
        // Every count is on exactly one row.
        let shown: u64 = listed.iter().sum::<u64>() + unlisted.iter().map(|u| u.2).sum::<u64>();
        assert_eq!(shown, 28);
    }
}
