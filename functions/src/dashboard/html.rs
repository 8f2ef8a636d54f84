//! The dashboard's HTML: the login page, the dashboard and an error page. Every piece of text that
//! is not a literal of this file goes through [`Esc`]. The style sheet is inline and allowed by
//! its hash in the Content-Security-Policy; the pages load nothing else.

use std::fmt::{self, Display, Write};
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use shared::http::StatusCode;
use shared::metrics::Report;
use shared::model::User;
use shared::store::Tally;
use shared::{Body, Response};

use super::chart;
use shared::route::Endpoint;
use shared::utc::Utc;

/// Text escaped for HTML content and double- or single-quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
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
tfoot tr{border-bottom:0}}\
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

fn page(title: &str, session: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\
         <body><header><span class=\"brand\">DFCU API</span>{session}</header><main>{main}</main></body></html>\n",
        Esc(title)
    )
}

/// A message shown above the login form.
pub enum Notice<'a> {
    Info(&'a str),
    Error(&'a str),
}

/// The login page, with an optional notice and the username to fill in again.
pub fn login(base: &str, notice: Option<Notice<'_>>, username: &str) -> String {
    let notice = match notice {
        Some(Notice::Info(m)) => format!(r#"<p class="notice info" role="status">{}</p>"#, Esc(m)),
        Some(Notice::Error(m)) => format!(r#"<p class="notice error" role="alert">{}</p>"#, Esc(m)),
        None => String::new(),
    };
    let main = format!(
        r#"<section class="card login" aria-labelledby="login-title"><h1 id="login-title">Login</h1>
<p class="note">The API performance dashboard, for bank and Fintract administrators.</p>{notice}
<form method="post" action="{base}/api/login/">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="150" value="{username}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="512">
<button class="primary" type="submit">Login</button>
</form></section>"#,
        base = Esc(base),
        username = Esc(username),
    );
    page("Login · DFCU API", "", &main)
}

/// A page for a failure of ours (the cause is in the log only).
pub fn error(base: &str, message: &str) -> String {
    let main = format!(
        r#"<section class="card login"><h1>API Dashboard</h1><p class="notice error" role="alert">{}</p><p><a href="{}/api/">Try again</a></p></section>"#,
        Esc(message),
        Esc(base)
    );
    page("API Dashboard · DFCU API", "", &main)
}

fn figure(class: &str, id: &str, title: &str, all_time: u64, recent: u64) -> String {
    format!(
        r#"<div class="figure {class}"><h2>{title}</h2><p class="value" id="all-{id}">{}</p><p class="recent">Last 24 hours: <span id="recent-{id}">{}</span></p></div>"#,
        grouped(all_time),
        grouped(recent),
    )
}

fn cells(all_time: Tally, recent: Tally) -> String {
    let mut out = String::new();
    for (label, a, r) in [
        ("Requests", all_time.requests(), recent.requests()),
        ("Failed", all_time.failed, recent.failed),
        ("Positive", all_time.positive, recent.positive),
        ("Negative", all_time.negative, recent.negative),
    ] {
        // `data-label` names the column where narrow screens stack the row.
        let _ = write!(
            out,
            r#"<td data-label="{label}"><span class="all">{}</span><span class="day">24 h: {}</span></td>"#,
            grouped(a),
            grouped(r)
        );
    }
    out
}

/// The dashboard: the four figures, the hourly chart and the table per endpoint.
pub fn dashboard(
    base: &str,
    operator: &User,
    report: &Report,
    endpoints: &[&Endpoint],
    now: i64,
) -> String {
    let base = Esc(base).to_string();
    let who = if operator.name.trim().is_empty() {
        &operator.username
    } else {
        &operator.name
    };
    let session = format!(
        r#"<div class="session"><span>Signed in as <strong id="operator">{}</strong> · {}</span><form method="post" action="{base}/api/logout/"><button class="ghost" type="submit">Logout</button></form></div>"#,
        Esc(who),
        Esc(operator.user_type.as_str()),
    );
    let (all, recent) = (report.all_time, report.recent);
    let mut rows = String::new();
    let mut listed = std::collections::BTreeSet::new();
    for e in endpoints {
        listed.insert(e.function);
        let f = report.function(e.function);
        let _ = write!(
            rows,
            r#"<tr data-function="{}"><th scope="row"><span class="method">{}</span><code>{}</code><span class="fn">{}</span></th>{}</tr>"#,
            Esc(e.function),
            Esc(e.method.as_str()),
            Esc(e.path),
            Esc(e.function),
            cells(f.all_time, f.recent)
        );
    }
    // Counts of a function this deployment no longer serves are still part of the totals.
    for (function, f) in report
        .functions
        .iter()
        .filter(|(f, _)| !listed.contains(f.as_str()))
    {
        let _ = write!(
            rows,
            r#"<tr data-function="{}"><th scope="row"><code>{}</code><span class="fn">no longer served</span></th>{}</tr>"#,
            Esc(function),
            Esc(function),
            cells(f.all_time, f.recent)
        );
    }
    let main = format!(
        r#"<h1>API Dashboard</h1>
<p class="sub">Updated {updated} · <a href="{base}/api/">Refresh</a> · <a href="{base}/api/metrics.json">metrics.json</a></p>
<section class="figures" aria-label="Totals since counting began">{f1}{f2}{f3}{f4}</section>
<section class="card" aria-labelledby="chart-heading"><h2 id="chart-heading">Requests per hour, last 24 hours (UTC)</h2>
<ul class="legend"><li><span class="swatch positive"></span>Positive (2xx)</li><li><span class="swatch negative"></span>Negative (4xx)</li><li><span class="swatch failed"></span>Failed (5xx)</li></ul>
{chart}{compact_chart}</section>
<section class="card" aria-labelledby="table-heading"><h2 id="table-heading">Per endpoint</h2>
<div class="table-wrap"><table id="endpoints"><thead><tr><th scope="col">Endpoint</th><th scope="col">Requests</th><th scope="col">Failed<small>5xx</small></th><th scope="col">Positive<small>2xx</small></th><th scope="col">Negative<small>4xx</small></th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr data-function=""><th scope="row">All endpoints</th>{total}</tr></tfoot></table></div></section>
<p class="note">Every API request is counted once by status class: positive (2xx), negative (4xx) or failed (5xx); the number of requests is their sum. A counting failure is logged and never fails the request, so under a counter-table outage counts can be lower than traffic. A client's retry is a new request and is counted again.</p>
<p class="note">This page's own requests (the dashboard, sign-in, sign-out and metrics.json) are not counted as API traffic. Figures are all-time, with the last 24 hours below; hours are in UTC.</p>"#,
        updated = Esc(&Utc::of(now).readable()),
        f1 = figure(
            "total",
            "requests",
            "Number of Requests",
            all.requests(),
            recent.requests()
        ),
        f2 = figure(
            "failed",
            "failed",
            "Number of Failed Requests (5xx)",
            all.failed,
            recent.failed
        ),
        f3 = figure(
            "positive",
            "positive",
            "Number of Positive Requests (2xx)",
            all.positive,
            recent.positive
        ),
        f4 = figure(
            "negative",
            "negative",
            "Number of Negative Requests (4xx)",
            all.negative,
            recent.negative
        ),
        chart = chart::hourly(&report.hours, &chart::WIDE),
        compact_chart = chart::hourly(&report.hours, &chart::COMPACT),
        total = cells(all, recent),
    );
    page("API Dashboard · DFCU API", &session, &main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            Esc(r#"<script>alert("x")</script> & 'y'"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(Esc("Ünïcode ok").to_string(), "Ünïcode ok");
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
