//! The dashboard's HTML: the login page, the dashboard and an error page, written as maud
//! templates. maud escapes every value spliced into a template, so no text can reach a page
//! unescaped; text from outside this file goes through [`Esc`], which also writes `'` as `&#39;`.
//! The style sheet is inline and allowed by its hash in the Content-Security-Policy; the pages
//! load nothing else. The `"\n"`s between elements keep the served markup as it was before maud.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup, PreEscaped, Render};
use sha2::{Digest, Sha256};
use shared::http::StatusCode;
use shared::metrics::{error_rates, percentiles, Report};
use shared::model::User;
use shared::store::{Figures, Tally};
use shared::{Body, Response};

use super::{chart, Rows};
use shared::route::Endpoint;
use shared::utc::Utc;

/// Text from outside this file: a username, a message, the base path, a function's name. maud
/// already escapes `&`, `<`, `>` and `"`, enough for its double-quoted attributes; `'` is written
/// as `&#39;` as well, as these pages always have, so the text stays inert wherever it lands.
pub struct Esc<'a>(pub &'a str);

impl Render for Esc<'_> {
    fn render_to(&self, buffer: &mut String) {
        for (i, part) in self.0.split('\'').enumerate() {
            if i > 0 {
                buffer.push_str("&#39;");
            }
            part.render_to(buffer);
        }
    }
}

/// `12345` as `12,345`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

const STYLE: &str = "\
:root{--ink:#1d2433;--muted:#5b6577;--line:#e3e7ee;--bg:#f4f6fa;--card:#fff;--brand:#0f3d6e;\
--ok:#1f8a4c;--warn:#d48806;--bad:#c62828}\
*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%}\
body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;\
color:var(--ink);background:var(--bg)}\
header{background:var(--brand);color:#fff;display:flex;align-items:center;justify-content:space-between;\
gap:8px 16px;padding:10px 20px;flex-wrap:wrap}\
.brand{font-weight:700;font-size:18px;letter-spacing:.02em}\
.session{display:flex;align-items:center;gap:12px;flex-wrap:wrap;font-size:14px}\
.session form{margin:0}\
.ghost{background:transparent;border:1px solid rgba(255,255,255,.7);color:#fff;border-radius:6px;\
padding:4px 14px;font:inherit;cursor:pointer}\
.ghost:hover{background:rgba(255,255,255,.12)}\
main{max-width:1120px;margin:0 auto;padding:20px}\
h1{font-size:24px;margin:4px 0}\
.sub{color:var(--muted);margin:0 0 16px;font-size:14px}\
a{color:var(--brand)}\
.figures{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:14px;margin:0 0 16px}\
.figure{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--brand);\
border-radius:10px;padding:14px 16px}\
.figure.failed{border-top-color:var(--bad)}.figure.positive{border-top-color:var(--ok)}\
.figure.negative{border-top-color:var(--warn)}\
.figure h2{font-size:14px;font-weight:600;color:var(--muted);margin:0;line-height:1.3}\
.figure .value{font-size:36px;font-weight:700;margin:6px 0 0;line-height:1.1;font-variant-numeric:tabular-nums}\
.figure .recent{margin:4px 0 0;color:var(--muted);font-size:13px}\
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px;margin:0 0 16px}\
.card h2{font-size:16px;margin:0 0 10px}\
.legend{display:flex;gap:6px 16px;flex-wrap:wrap;font-size:13px;color:var(--muted);margin:0 0 6px;padding:0;list-style:none}\
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}\
.swatch.positive{background:var(--ok)}.swatch.negative{background:var(--warn)}.swatch.failed{background:var(--bad)}\
.swatch.p95{background:#3949ab;height:3px;vertical-align:3px}\
.figure.latency{border-top-color:#3949ab}\
.table-wrap{overflow-x:auto}\
.chart{display:block;width:100%;height:auto}.chart.compact{display:none}\
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}\
th,td{padding:8px 10px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}\
th:first-child{text-align:left}\
thead th{font-size:13px;color:var(--muted);font-weight:600;white-space:nowrap}\
thead small{display:block;font-weight:400}\
tbody th{font-weight:400}\
tfoot th,tfoot td{border-bottom:0;font-weight:700}\
.method{display:inline-block;font-size:11px;font-weight:700;border-radius:4px;padding:1px 6px;\
background:#e8eef7;color:var(--brand);margin-right:6px}\
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}\
.fn{display:block;color:var(--muted);font-size:12px}\
.all{display:block;font-weight:600}\
.day{display:block;color:var(--muted);font-size:12px;white-space:nowrap}\
.note{color:var(--muted);font-size:13px;margin:0 0 8px}\
.login{max-width:400px;margin:48px auto}\
.login h1{margin-bottom:8px}\
label{display:block;font-weight:600;margin:14px 0 4px}\
input{width:100%;padding:10px 12px;border:1px solid #c5ccd8;border-radius:8px;font:inherit;background:#fff}\
input:focus{outline:2px solid var(--brand);outline-offset:1px}\
.primary{margin-top:20px;width:100%;padding:11px;border:0;border-radius:8px;background:var(--brand);\
color:#fff;font:inherit;font-weight:600;cursor:pointer}\
.notice{border-radius:8px;padding:10px 12px;margin:12px 0;font-size:14px}\
.notice.error{background:#fdecea;color:#8a1c1c;border:1px solid #f5c2c0}\
.notice.info{background:#e8f1fb;color:var(--brand);border:1px solid #c4d9f2}\
@media (max-width:820px){.figures{grid-template-columns:repeat(2,minmax(0,1fr))}}\
@media (max-width:560px){main{padding:12px}header{padding:10px 12px}.figures{gap:10px}\
.figure{padding:10px 12px}.figure .value{font-size:28px}.login{margin:16px auto}.card{padding:14px 12px}\
.chart.wide{display:none}.chart.compact{display:block}\
thead{display:none}tr{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));\
border-bottom:1px solid var(--line);padding:8px 0}th,td{border:0;padding:2px 4px}\
tbody th,tfoot th{grid-column:1/-1;padding-bottom:4px}td{text-align:left}\
td::before{content:attr(data-label);display:block;font-size:11px;color:var(--muted)}\
tfoot tr{border-bottom:0}#performance tr{grid-template-columns:repeat(3,minmax(0,1fr))}}\
";

/// The Content-Security-Policy of every page: nothing but this file's own style sheet, forms
/// posting back here, and no framing.
fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// An HTML answer with the headers every page carries.
pub fn response(status: StatusCode, html: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(html));
    *r.status_mut() = status;
    let h = r.headers_mut();
    let set = |h: &mut http::HeaderMap, name: http::HeaderName, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, http::header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(h, http::header::CACHE_CONTROL, "no-store");
    set(
        h,
        http::header::CONTENT_SECURITY_POLICY,
        content_security_policy(),
    );
    set(h, http::header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, http::header::X_FRAME_OPTIONS, "DENY");
    // Not `no-referrer`: under it a browser sends `Origin: null` with the sign-in form's POST,
    // which the CSRF check must refuse.
    set(h, http::header::REFERRER_POLICY, "same-origin");
    r
}

/// The frame of every dashboard page.
fn page(title: &str, session: Markup, main: Markup) -> String {
    page_of("DFCU API", title, session, main)
}

/// The frame of every page, under `brand`. The doctype is spelled out (maud's `DOCTYPE` is upper
/// case) and the style sheet is spliced unescaped: it is this file's own constant, and its hash
/// must match.
fn page_of(brand: &str, title: &str, session: Markup, main: Markup) -> String {
    html! {
        (PreEscaped("<!doctype html>\n"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { span.brand { (brand) } (session) }
                main { (main) }
            }
        }
        "\n"
    }
    .into_string()
}

/// A message shown above the login form.
pub enum Notice<'a> {
    Info(&'a str),
    Error(&'a str),
}

/// The notice as a paragraph that assistive technology announces: politely for information, at
/// once for an error.
fn notice(notice: Option<Notice<'_>>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Info(m)) => p.notice.info role="status" { (Esc(m)) },
            Some(Notice::Error(m)) => p.notice.error role="alert" { (Esc(m)) },
            None => {},
        }
    }
}

/// The login page, with an optional notice and the username to fill in again.
pub fn login(base: &str, notice: Option<Notice<'_>>, username: &str) -> String {
    let main = html! {
        section.card.login aria-labelledby="login-title" {
            h1 #login-title { "Login" } "\n"
            p.note { "The API performance dashboard, for bank and Fintract administrators." }
            (self::notice(notice)) "\n"
            form method="post" action={ (Esc(base)) "/api/login/" } {
                "\n"
                label for="username" { "Username" } "\n"
                input #username name="username" autocomplete="username" autocapitalize="none"
                    spellcheck="false" required maxlength="150" value=(Esc(username)) autofocus;
                "\n"
                label for="password" { "Password" } "\n"
                input #password name="password" type="password" autocomplete="current-password"
                    required maxlength="512";
                "\n"
                button.primary type="submit" { "Login" } "\n"
            }
        }
    };
    page("Login · DFCU API", html! {}, main)
}

/// The page of the default password-reset link (`password_reset`): a form posting the link's
/// token with the new password twice back to the page's own address, and the outcome of that.
/// `token` is `None` once the password is reset (no form then).
pub fn reset_password(token: Option<&str>, notice: Option<Notice<'_>>) -> String {
    let main = html! {
        section.card.login aria-labelledby="reset-title" {
            h1 #reset-title {
                @if token.is_some() { "Choose a new password" } @else { "Your password" }
            } "\n"
            (self::notice(notice)) "\n"
            @if let Some(token) = token {
                p.note { "8 to 128 characters, not easy to guess. Every session of the account is signed out." }
                form method="post" {
                    "\n"
                    input type="hidden" name="token" value=(Esc(token));
                    label for="password" { "New password" } "\n"
                    input #password name="password" type="password" autocomplete="new-password"
                        required minlength="8" maxlength="128" autofocus;
                    "\n"
                    label for="password2" { "The same again" } "\n"
                    input #password2 name="password2" type="password" autocomplete="new-password"
                        required minlength="8" maxlength="128";
                    "\n"
                    button.primary type="submit" { "Set the password" } "\n"
                }
            }
        }
    };
    page_of("Fintract", "New password · Fintract", html! {}, main)
}

/// A page for a failure of ours (the cause is in the log only).
pub fn error(base: &str, message: &str) -> String {
    let main = html! {
        section.card.login {
            h1 { "API Dashboard" }
            p.notice.error role="alert" { (Esc(message)) }
            p { a href={ (Esc(base)) "/api/" } { "Try again" } }
        }
    };
    page("API Dashboard · DFCU API", html! {}, main)
}

/// Who is signed in, and the sign-out button.
fn session(base: &str, operator: &User) -> Markup {
    let who = if operator.name.trim().is_empty() {
        &operator.username
    } else {
        &operator.name
    };
    html! {
        div.session {
            span {
                "Signed in as " strong #operator { (Esc(who)) }
                " · " (Esc(operator.user_type.as_str()))
            }
            form method="post" action={ (Esc(base)) "/api/logout/" } {
                button.ghost type="submit" { "Logout" }
            }
        }
    }
}

fn figure(class: &str, id: &str, title: &str, all_time: u64, recent: u64) -> Markup {
    html! {
        div.figure.(class) {
            h2 { (title) }
            p.value id={ "all-" (id) } { (grouped(all_time)) }
            p.recent { "Last 24 hours: " span id={ "recent-" (id) } { (grouped(recent)) } }
        }
    }
}

/// The four figures, all-time with the last 24 hours below.
fn figures(all: Tally, recent: Tally) -> Markup {
    html! {
        section.figures aria-label="Totals since counting began" {
            (figure("total", "requests", "Number of Requests", all.requests(), recent.requests()))
            (figure("failed", "failed", "Number of Failed Requests (5xx)", all.failed, recent.failed))
            (figure(
                "positive",
                "positive",
                "Number of Positive Requests (2xx)",
                all.positive,
                recent.positive
            ))
            (figure(
                "negative",
                "negative",
                "Number of Negative Requests (4xx)",
                all.negative,
                recent.negative
            ))
        }
    }
}

/// A share as a percentage: `0.5%`, `12%`; a dash where there were no requests.
pub fn percent(share: Option<f64>) -> String {
    match share {
        None => "–".into(),
        Some(0.0) => "0%".into(),
        Some(s) if s < 0.1 => format!("{:.2}%", s * 100.0),
        Some(s) => format!("{:.1}%", s * 100.0),
    }
}

/// A duration read from a histogram, or a dash where none was recorded.
fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), chart::duration)
}

/// The figures of how fast and how well the API answers: p95 and p99 durations, and the
/// shares of server (5xx) and client (4xx) errors; the last 24 hours, all-time below.
fn performance_figures(report: &Report) -> Markup {
    let (recent, all) = (percentiles(&report.recent), percentiles(&report.all_time));
    let (recent_rates, all_rates) = (error_rates(&report.recent), error_rates(&report.all_time));
    let figure = |class: &str, id: &str, title: &str, recent: String, all: String| {
        html! {
            div.figure.(class) {
                h2 { (title) }
                p.value id={ "recent-" (id) } { (recent) }
                p.recent { "All time: " span id={ "all-" (id) } { (all) } }
            }
        }
    };
    html! {
        section.figures aria-label="Latency and error rates, last 24 hours" {
            (figure("latency", "p95", "p95 latency, last 24 hours",
                ms(recent.map(|p| p.p95)), ms(all.map(|p| p.p95))))
            (figure("latency", "p99", "p99 latency, last 24 hours",
                ms(recent.map(|p| p.p99)), ms(all.map(|p| p.p99))))
            (figure("failed", "server-error-rate", "Server error rate (5xx / all), last 24 hours",
                percent(recent_rates.map(|r| r.0)), percent(all_rates.map(|r| r.0))))
            (figure("negative", "client-error-rate", "Client error rate (4xx / all), last 24 hours",
                percent(recent_rates.map(|r| r.1)), percent(all_rates.map(|r| r.1))))
        }
    }
}

/// What the figures miss, said where they are read: hours whose counts the counter table
/// refused, and hours the all-time roll-up has not reached yet.
fn completeness(report: &Report) -> Markup {
    let lossy: Vec<(i64, u64)> = report
        .hours
        .iter()
        .filter(|h| h.lost > 0)
        .map(|h| (h.hour, h.lost))
        .collect();
    let earlier = report.lost_earlier();
    html! {
        @if !lossy.is_empty() || earlier > 0 {
            div.notice.error #incomplete role="status" {
                strong { "Figures are incomplete. " }
                "The counter table refused some counts (they were lost, never the requests):"
                ul {
                    @for (hour, lost) in &lossy {
                        li data-hour=(Utc::of(hour * 3_600).rfc3339()) {
                            (Esc(&hour_range(*hour))) ": " (grouped(*lost)) " not counted"
                        }
                    }
                    @if earlier > 0 {
                        li #lost-earlier { "before these 24 hours: " (grouped(earlier)) " not counted" }
                    }
                }
            }
        }
        @if let Some((from, to)) = report.catching_up {
            div.notice.info #catching-up role="status" {
                "All-time figures do not yet include " (Esc(&hour_range(from))) " to "
                (Esc(&hour_range(to))) ": they are being added a part at a time; refresh to continue."
            }
        }
    }
}

/// `2026-11-24 13:00–14:00 UTC`.
fn hour_range(hour: i64) -> String {
    let start = Utc::of(hour * 3_600);
    format!(
        "{:04}-{:02}-{:02} {:02}:00–{:02}:00 UTC",
        start.year,
        start.month,
        start.day,
        start.hour,
        (start.hour + 1) % 24
    )
}

/// The hourly chart twice, wide and compact; the style sheet shows the one that fits the screen.
fn chart_card(report: &Report) -> Markup {
    html! {
        section.card aria-labelledby="chart-heading" {
            h2 #chart-heading { "Requests per hour and p95 latency, last 24 hours (UTC)" } "\n"
            ul.legend {
                li { span.swatch.positive {} "Positive (2xx)" }
                li { span.swatch.negative {} "Negative (4xx)" }
                li { span.swatch.failed {} "Failed (5xx)" }
                li { span.swatch.p95 {} "p95 latency (right axis)" }
            }
            "\n"
            // The chart module writes SVG (self-closing elements maud cannot write), escaped there.
            (PreEscaped(chart::hourly(&report.hours, &chart::WIDE)))
            (PreEscaped(chart::hourly(&report.hours, &chart::COMPACT)))
        }
    }
}

fn cells(all_time: Tally, recent: Tally) -> Markup {
    html! {
        @for (label, a, r) in [
            ("Requests", all_time.requests(), recent.requests()),
            ("Failed", all_time.failed, recent.failed),
            ("Positive", all_time.positive, recent.positive),
            ("Negative", all_time.negative, recent.negative),
        ] {
            // `data-label` names the column where narrow screens stack the row.
            td data-label=(label) {
                span.all { (grouped(a)) }
                span.day { "24 h: " (grouped(r)) }
            }
        }
    }
}

/// An endpoint's error rates and durations: the last 24 hours, all-time below.
fn performance_cells(all_time: &Figures, recent: &Figures) -> Markup {
    let (a, r) = (percentiles(all_time), percentiles(recent));
    let (ar, rr) = (error_rates(all_time), error_rates(recent));
    html! {
        @for (label, day, all) in [
            ("5xx rate", percent(rr.map(|x| x.0)), percent(ar.map(|x| x.0))),
            ("4xx rate", percent(rr.map(|x| x.1)), percent(ar.map(|x| x.1))),
            ("p50", ms(r.map(|p| p.p50)), ms(a.map(|p| p.p50))),
            ("p95", ms(r.map(|p| p.p95)), ms(a.map(|p| p.p95))),
            ("p99", ms(r.map(|p| p.p99)), ms(a.map(|p| p.p99))),
            ("max", ms(r.map(|p| p.max)), ms(a.map(|p| p.max))),
        ] {
            td data-label=(label) {
                span.all { (day) }
                span.day { "all time: " (all) }
            }
        }
    }
}

/// The endpoint's heading cell.
fn endpoint_heading(e: &Endpoint) -> Markup {
    html! {
        th scope="row" {
            span.method { (Esc(e.method.as_str())) }
            code { (Esc(e.path)) }
            span.fn { (Esc(e.function)) }
        }
    }
}

/// Latency and error rates per endpoint, with every endpoint together in the footer.
fn performance_card(report: &Report, rows: &Rows<'_>) -> Markup {
    html! {
        section.card aria-labelledby="performance-heading" {
            h2 #performance-heading { "Latency and errors per endpoint" } "\n"
            p.note {
                "Handler durations, last 24 hours with all time below; percentiles are read from \
                 log-scale buckets and are within 5% of the exact value."
            }
            div.table-wrap {
                table #performance {
                    thead {
                        tr {
                            th scope="col" { "Endpoint" }
                            th scope="col" { "Server errors" small { "5xx / all" } }
                            th scope="col" { "Client errors" small { "4xx / all" } }
                            th scope="col" { "p50" }
                            th scope="col" { "p95" }
                            th scope="col" { "p99" }
                            th scope="col" { "max" }
                        }
                    }
                    "\n"
                    tbody {
                        @for (e, f) in &rows.listed {
                            tr data-function=(Esc(e.function)) {
                                (endpoint_heading(e))
                                (performance_cells(&f.all_time, &f.recent))
                            }
                        }
                        @for (name, what, f) in &rows.unlisted {
                            tr data-function=(Esc(shared::route::function_of(name))) {
                                (unlisted_heading(name, what))
                                (performance_cells(&f.all_time, &f.recent))
                            }
                        }
                    }
                    "\n"
                    tfoot {
                        tr data-function="" {
                            th scope="row" { "All endpoints" }
                            (performance_cells(&report.all_time, &report.recent))
                        }
                    }
                }
            }
        }
    }
}

/// The heading cell of counts no listed endpoint claims: the function's name, and what they are.
fn unlisted_heading(name: &str, what: &str) -> Markup {
    html! {
        th scope="row" { code { (Esc(shared::route::function_of(name))) } span.fn { (Esc(what)) } }
    }
}

/// A row per listed endpoint, then one per name no endpoint claims (see [`super::rows`]).
fn count_rows(rows: &Rows<'_>) -> Markup {
    html! {
        @for (e, f) in &rows.listed {
            tr data-function=(Esc(e.function)) {
                (endpoint_heading(e))
                (cells(f.all_time.tally, f.recent.tally))
            }
        }
        @for (name, what, f) in &rows.unlisted {
            tr data-function=(Esc(shared::route::function_of(name))) {
                (unlisted_heading(name, what))
                (cells(f.all_time.tally, f.recent.tally))
            }
        }
    }
}

/// The table per endpoint, with the totals in its footer.
fn table_card(report: &Report, rows: &Rows<'_>) -> Markup {
    html! {
        section.card aria-labelledby="table-heading" {
            h2 #table-heading { "Per endpoint" } "\n"
            div.table-wrap {
                table #endpoints {
                    thead {
                        tr {
                            th scope="col" { "Endpoint" }
                            th scope="col" { "Requests" }
                            th scope="col" { "Failed" small { "5xx" } }
                            th scope="col" { "Positive" small { "2xx" } }
                            th scope="col" { "Negative" small { "4xx" } }
                        }
                    }
                    "\n"
                    tbody { (count_rows(rows)) }
                    "\n"
                    tfoot {
                        tr data-function="" {
                            th scope="row" { "All endpoints" }
                            (cells(report.all_time.tally, report.recent.tally))
                        }
                    }
                }
            }
        }
    }
}

/// The dashboard: the four figures, the hourly chart and the table per endpoint.
pub fn dashboard(
    base: &str,
    operator: &User,
    report: &Report,
    endpoints: &[&Endpoint],
    now: i64,
) -> String {
    let rows = super::rows(report, endpoints);
    let main = html! {
        h1 { "API Dashboard" } "\n"
        p.sub {
            "Updated " (Esc(&Utc::of(now).readable())) " · "
            a href={ (Esc(base)) "/api/" } { "Refresh" } " · "
            a href={ (Esc(base)) "/api/metrics.json" } { "metrics.json" }
        }
        "\n"
        (completeness(report))
        (figures(report.all_time.tally, report.recent.tally)) "\n"
        (performance_figures(report)) "\n"
        (chart_card(report)) "\n"
        (table_card(report, &rows)) "\n"
        (performance_card(report, &rows)) "\n"
        p.note {
            "Every API request is counted once by status class: positive (2xx), negative (4xx) or \
             failed (5xx); the number of requests is their sum. A counting failure is logged and \
             never fails the request; the hours where the counter table refused counts are named \
             above the figures. A client's retry is a new request and is counted again. \
             Latency is each handler's own duration, from the request's arrival in the function \
             to its answer, without the gateway's time or a cold start's."
        }
        "\n"
        p.note {
            "This page's own requests (the dashboard, sign-in, sign-out and metrics.json) are not \
             counted as API traffic. Figures are all-time, with the last 24 hours below; hours are \
             in UTC."
        }
    };
    page("API Dashboard · DFCU API", session(base, operator), main)
}

#[cfg(test)]
mod tests {

    use shared::model::{NewUser, UserType};

    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            Esc(r#"<script>alert("x")</script> & 'y'"#)
                .render()
                .into_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(Esc("Ünïcode ok").render().into_string(), "Ünïcode ok");
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345_678), "12,345,678");
    }

    #[test]
    fn the_login_page_echoes_the_username_escaped() {
        let html = login(
            "",
            Some(Notice::Error("<b>no</b>")),
            r#""><script>x()</script>"#,
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"));
        assert!(html.contains(r#"action="/api/login/""#));
    }

    #[test]
    fn names_on_the_dashboard_are_escaped() {
        let hostile = r#"<script>"&'"#;
        let escaped = "&lt;script&gt;&quot;&amp;&#39;";
        // No display name: the page shows the username.
        let operator = NewUser::sample(hostile, UserType::BankAdmin).into_user(1);
        let endpoint = Endpoint {
            function: hostile,
            method: shared::Method::GET,
            path: hostile,
            assurance: shared::route::Assurance::Public,
            counted: true,
        };
        let endpoints = [&endpoint];
        // A function with counts that is no longer listed gets a row of its own.
        let mut report = Report::empty(0);
        report
            .functions
            .insert(format!("{hostile}old"), Default::default());
        let html = dashboard(hostile, &operator, &report, &endpoints, 0);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains(hostile));
        for expected in [
            format!(r#"<strong id="operator">{escaped}</strong>"#),
            format!(r#"<tr data-function="{escaped}"><th scope="row">"#),
            format!(r#"<code>{escaped}</code><span class="fn">{escaped}</span>"#),
            format!(
                r#"<tr data-function="{escaped}old"><th scope="row"><code>{escaped}old</code>"#
            ),
            format!(r#"<form method="post" action="{escaped}/api/logout/">"#),
            format!(r#"<a href="{escaped}/api/metrics.json">"#),
        ] {
            assert!(html.contains(&expected), "{expected} in {html}");
        }
    }

    #[test]
    fn the_style_sheet_is_allowed_by_its_hash_and_nothing_else_is() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(
            !STYLE.contains("url("),
            "no external resources in the style sheet"
        );
        let html = login("", None, "");
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
    }
}
