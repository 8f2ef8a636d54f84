//! The API performance dashboard over HTTP (ARCHITECTURE.md §7): sign-in and who may, the session
//! cookie, the figures in `metrics.json` and in the page after a known mix of requests, and that
//! the dashboard's own requests are not counted.

use acceptance::{demo, on_both_backends, TestApp, MIX, MIX_LOANS, MIX_TOKEN};
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER, SET_COOKIE};
use serde_json::{json, Value};

/// A browser-less client that shows every answer as it is: no redirects followed, no cookie jar.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An answer with its body as text (pages are HTML).
struct Page {
    status: u16,
    headers: HeaderMap,
    html: String,
}

impl Page {
    /// The `name=value` of a `Set-Cookie` for the session cookie, and its whole header.
    fn session_cookie(&self) -> Option<(String, String)> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("dfcu_dashboard="))
            .map(|c| (c.split(';').next().unwrap_or("").to_string(), c.to_string()))
    }

    fn is_login_page(&self) -> bool {
        self.html
            .contains(r#"<form method="post" action="/api/login/">"#)
            && !self.html.contains(r#"id="all-requests""#)
    }

    fn is_dashboard(&self) -> bool {
        self.html.contains("<h1>API Dashboard</h1>") && self.html.contains(r#"id="all-requests""#)
    }
}

async fn read(request: reqwest::RequestBuilder) -> Page {
    let r = request.send().await.expect("the gateway answers");
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        html: r.text().await.expect("a body"),
    }
}

/// `POST /api/login/` with a form, as the login page sends it.
async fn sign_in(app: &TestApp, username: &str, password: &str) -> Page {
    read(
        client()
            .post(app.url("/api/login/"))
            .header("origin", &app.base)
            .form(&[("username", username), ("password", password)]),
    )
    .await
}

/// Signs in and returns the `Cookie` value of the session.
async fn session_of(app: &TestApp, username: &str, password: &str) -> String {
    let p = sign_in(app, username, password).await;
    assert_eq!(p.status, 303, "sign-in as {username}: {}", p.html);
    assert_eq!(p.headers[LOCATION], "/api/");
    p.session_cookie().expect("a session cookie").0
}

async fn dashboard(app: &TestApp, cookie: Option<&str>) -> Page {
    let mut r = client().get(app.url("/api"));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    read(r).await
}

async fn metrics(app: &TestApp, cookie: Option<&str>, bearer: Option<&str>) -> (u16, Value) {
    let mut r = client().get(app.url("/api/metrics.json"));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let r = r.send().await.expect("the gateway answers");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn tally((positive, negative, failed): (u64, u64, u64)) -> Value {
    json!({
        "requests": positive + negative + failed,
        "failed": failed,
        "positive": positive,
        "negative": negative,
    })
}

/// The four counts of a figures object of metrics.json, without its rates and durations.
fn counts(figures: &Value) -> Value {
    json!({
        "requests": figures["requests"],
        "failed": figures["failed"],
        "positive": figures["positive"],
        "negative": figures["negative"],
    })
}

/// The text of the element with `id`.
fn text_of(html: &str, id: &str) -> String {
    let start = html
        .find(&format!(r#"id="{id}">"#))
        .unwrap_or_else(|| panic!("no #{id} on the page"))
        + id.len()
        + 6;
    html[start..].chars().take_while(|c| *c != '<').collect()
}

/// The number in the element with `id` (thousands separators removed).
fn figure(html: &str, id: &str) -> u64 {
    let text = text_of(html, id).replace(',', "");
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("#{id} is {text:?}"))
}

/// The table row of `function`: its (requests, failed, positive, negative), all-time and 24 h.
fn row(html: &str, function: &str) -> Vec<(u64, u64)> {
    let start = html
        .find(&format!(r#"<tr data-function="{function}">"#))
        .unwrap_or_else(|| panic!("no row for {function}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    // Each cell: `<span class="all">7</span><span class="day">24 h: 7</span>`.
    let numbers = |class: &str| -> Vec<u64> {
        row.split(&format!(r#"<span class="{class}">"#))
            .skip(1)
            .map(|s| {
                let text = &s[..s.find('<').unwrap()];
                let last = text.rsplit(' ').next().unwrap().replace(',', "");
                last.parse()
                    .unwrap_or_else(|_| panic!("{class} cell of {function}: {text:?}"))
            })
            .collect()
    };
    numbers("all").into_iter().zip(numbers("day")).collect()
}

fn columns((p, n, f): (u64, u64, u64)) -> Vec<(u64, u64)> {
    [p + n + f, f, p, n].iter().map(|&v| (v, v)).collect()
}

async fn the_figures_are_exactly_the_requests_driven_in_json_and_on_the_page(app: TestApp) {
    let cookie = session_of(&app, demo::ADMIN.username, demo::ADMIN.password).await;
    let (status, before) = metrics(&app, Some(&cookie), None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(counts(&before["all_time"]), tally((0, 0, 0)));

    let admin_access = app.drive_the_documented_mix().await;

    let (status, m) = metrics(&app, Some(&cookie), None).await;
    assert_eq!(status, 200);
    assert_eq!(counts(&m["all_time"]), tally(MIX), "{m:#}");
    assert_eq!(counts(&m["last_24_hours"]), tally(MIX));
    assert_eq!(m["all_time"]["requests"], 11);
    let endpoint = |f: &str| {
        m["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["function"] == f)
            .cloned()
            .unwrap_or_else(|| panic!("{f} in metrics.json"))
    };
    assert_eq!(counts(&endpoint("token")["all_time"]), tally(MIX_TOKEN));
    assert_eq!(
        counts(&endpoint("loans")["last_24_hours"]),
        tally(MIX_LOANS)
    );
    assert_eq!(endpoint("loans")["path"], "/api/accounts/loans/");
    assert_eq!(counts(&endpoint("register")["all_time"]), tally((0, 0, 0)));
    let api_routes = functions::routes().iter().filter(|r| r.counted).count();
    assert_eq!(m["endpoints"].as_array().unwrap().len(), api_routes);
    let hourly = m["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 24);
    let charted: u64 = hourly.iter().map(|h| h["requests"].as_u64().unwrap()).sum();
    assert_eq!(charted, 11);

    // Error rates and durations of the same requests: every one timed, percentiles in order.
    let (p, n, f) = MIX;
    let all = &m["all_time"];
    let share = |x: u64| x as f64 / (p + n + f) as f64;
    assert_eq!(all["server_error_rate"].as_f64(), Some(share(f)), "{all}");
    assert_eq!(all["client_error_rate"].as_f64(), Some(share(n)));
    let latency = &all["latency_ms"];
    assert_eq!(latency["timed_requests"], 11, "{latency}");
    let ms = |k: &str| {
        latency[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} in {latency}"))
    };
    assert!(
        0.0 < ms("p50")
            && ms("p50") <= ms("p95")
            && ms("p95") <= ms("p99")
            && ms("p99") <= ms("max")
    );
    assert!(
        ms("max") < 30_000.0,
        "a handler cannot take longer than the gateway waits"
    );
    let token = endpoint("token")["last_24_hours"].clone();
    assert_eq!(
        token["latency_ms"]["timed_requests"].as_u64(),
        token["requests"].as_u64()
    );
    assert_eq!(endpoint("register")["all_time"]["latency_ms"], Value::Null);
    assert_eq!(
        endpoint("register")["all_time"]["server_error_rate"],
        Value::Null
    );
    // The last hour with traffic (the mix may straddle the top of an hour).
    let busy = hourly
        .iter()
        .rev()
        .find(|h| h["requests"].as_u64() > Some(0))
        .unwrap();
    assert!(busy["p95_ms"].as_f64().unwrap() > 0.0, "{busy}");
    assert_eq!(busy["latency_ms"]["p95"], busy["p95_ms"]);
    assert_eq!(busy["latency_ms"]["timed_requests"], busy["requests"]);
    let hour_share = busy["negative"].as_f64().unwrap() / busy["requests"].as_f64().unwrap();
    assert_eq!(busy["client_error_rate"].as_f64(), Some(hour_share));
    let lost: u64 = hourly.iter().map(|h| h["lost"].as_u64().unwrap()).sum();
    assert_eq!(lost, 0);
    assert_eq!(m["incomplete_hours"], json!([]));

    // The same numbers for a script with an admin's bearer token.
    let (status, by_token) = metrics(&app, None, Some(&admin_access)).await;
    assert_eq!(status, 200);
    assert_eq!(by_token["all_time"], m["all_time"]);
    assert_eq!(by_token["endpoints"], m["endpoints"]);

    let page = dashboard(&app, Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(page.is_dashboard(), "{}", page.html);
    let (p, n, f) = MIX;
    for (id, value) in [
        ("requests", p + n + f),
        ("failed", f),
        ("positive", p),
        ("negative", n),
    ] {
        assert_eq!(figure(&page.html, &format!("all-{id}")), value, "all-{id}");
        assert_eq!(
            figure(&page.html, &format!("recent-{id}")),
            value,
            "recent-{id}"
        );
    }
    assert_eq!(row(&page.html, "token"), columns(MIX_TOKEN));
    assert_eq!(row(&page.html, "loans"), columns(MIX_LOANS));
    assert_eq!(row(&page.html, "verify-otp"), columns((0, 0, 0)));
    assert_eq!(row(&page.html, ""), columns(MIX), "the totals row");
    let chart = &page.html[page
        .html
        .find(r#"<svg id="hourly-chart""#)
        .expect("the chart")..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(chart.matches(r#"<g class="hour""#).count(), 24);
    let in_chart: u64 = chart
        .split(r#"data-requests=""#)
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        in_chart, 11,
        "the chart's bars add up to the requests of the last 24 hours"
    );
    // The latency figures, the p95 line and the table per endpoint, from the same histograms.
    let p95 = text_of(&page.html, "recent-p95");
    assert!(
        p95.ends_with(" ms") || p95.ends_with(" s"),
        "p95 figure: {p95:?}"
    );
    assert_eq!(
        text_of(&page.html, "all-p95"),
        p95,
        "all time is the last 24 hours here"
    );
    assert!(text_of(&page.html, "recent-client-error-rate").ends_with('%'));
    assert_ne!(text_of(&page.html, "recent-client-error-rate"), "0%");
    assert!(
        chart.contains(r#"class="p95""#),
        "a p95 line or dot in the chart"
    );
    let table = &page.html[page
        .html
        .find(r#"<table id="performance">"#)
        .expect("the latency table")..];
    let token_row = &table[table
        .find(r#"<tr data-function="token">"#)
        .expect("token's row")..];
    let token_row = &token_row[..token_row.find("</tr>").unwrap()];
    assert_eq!(
        token_row.matches("<td").count(),
        6,
        "5xx, 4xx, p50, p95, p99, max"
    );
    assert!(
        !page.html.contains(r#"id="incomplete""#),
        "nothing was lost"
    );
    for said in [
        "This page's own requests",
        "are not counted as API traffic",
        "Every API request is counted once by status class",
        "a counting failure is logged and never fails the request",
    ] {
        assert!(
            page.html.to_lowercase().contains(&said.to_lowercase()),
            "the page says: {said}"
        );
    }
    // Rendered offline: no script, no external style sheet, font or image.
    assert!(!page.html.contains("<script"));
    assert_eq!(
        page.html.matches("http").count(),
        2,
        "only the namespaces of the two charts (wide and compact) are URLs"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
}

async fn the_dashboards_own_requests_are_not_counted(app: TestApp) {
    let cookie = session_of(&app, demo::ADMIN.username, demo::ADMIN.password).await;
    for _ in 0..3 {
        assert!(dashboard(&app, Some(&cookie)).await.is_dashboard());
        assert_eq!(metrics(&app, Some(&cookie), None).await.0, 200);
    }
    assert_eq!(metrics(&app, None, None).await.0, 401);
    assert_eq!(sign_in(&app, "admin", "wrong").await.status, 401);
    assert_eq!(sign_in(&app, "jblunt", "james-demo-pass").await.status, 403);
    assert!(dashboard(&app, None).await.is_login_page());
    let out = read(
        client()
            .post(app.url("/api/logout/"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(out.status, 303);
    assert!(
        app.ctx
            .store
            .sum_through(i64::MAX / 2)
            .await
            .unwrap()
            .is_empty(),
        "nothing is counted for the dashboard"
    );
    let cookie = session_of(&app, demo::ADMIN.username, demo::ADMIN.password).await;
    let (_, m) = metrics(&app, Some(&cookie), None).await;
    assert_eq!(counts(&m["all_time"]), tally((0, 0, 0)));

    // One API request moves the figures by exactly one.
    assert_eq!(app.token(demo::ADMIN.username, "wrong").await.status, 401);
    let (_, m) = metrics(&app, Some(&cookie), None).await;
    assert_eq!(counts(&m["all_time"]), tally((0, 1, 0)));
}

async fn anyone_but_an_admin_is_refused_on_the_login_page(app: TestApp) {
    let p = sign_in(&app, demo::JAMES.username, demo::JAMES.password).await;
    assert_eq!(p.status, 403);
    assert!(p.is_login_page());
    assert!(
        p.html
            .contains("This account cannot sign in to the dashboard: it is for bank and Fintract administrators only."),
        "{}",
        p.html
    );
    assert!(p.session_cookie().is_none());
    let p = sign_in(&app, demo::DEVELOPER.username, demo::DEVELOPER.password).await;
    assert_eq!(p.status, 403);

    for (username, password) in [("admin", "12345"), ("nobody", "1234"), ("ADMIN ", "wrong")] {
        let p = sign_in(&app, username, password).await;
        assert_eq!(p.status, 401, "{username}");
        assert!(p.html.contains("Invalid username or password."));
        assert!(p.session_cookie().is_none());
    }
    // The bank's teller (BANK_ADMIN) and the operator (FINTRACT_ADMIN) may sign in.
    session_of(&app, demo::BANK_ADMIN.username, demo::BANK_ADMIN.password).await;
    session_of(&app, "Admin", demo::ADMIN.password).await;

    // Bad input is a 4xx page, never a 500.
    for (content_type, body, status) in [
        ("application/x-www-form-urlencoded", "username=admin", 400),
        ("application/x-www-form-urlencoded", "password=1234", 400),
        ("application/x-www-form-urlencoded", "", 400),
        (
            "application/x-www-form-urlencoded",
            "username=a%00b&password=x",
            400,
        ),
        (
            "application/json",
            r#"{"username": 5, "password": "1234"}"#,
            400,
        ),
        ("application/json", "{not json", 400),
        ("application/xml", "<a/>", 400),
        // Not UTF-8: decoded with replacement characters, so simply nobody's name.
        (
            "application/x-www-form-urlencoded",
            "username=%FF%FE&password=x",
            401,
        ),
    ] {
        let p = read(
            client()
                .post(app.url("/api/login/"))
                .header("content-type", content_type)
                .body(body),
        )
        .await;
        assert_eq!(p.status, status, "{content_type} {body}: {}", p.html);
        assert!(p.is_login_page());
    }
}

async fn sign_in_attempts_are_throttled_per_account(app: TestApp) {
    app.start_of_window(900);
    for _ in 0..10 {
        assert_eq!(sign_in(&app, "admin", "guess").await.status, 401);
    }
    let p = sign_in(&app, "admin", demo::ADMIN.password).await;
    assert_eq!(p.status, 429, "the right password no longer helps");
    assert!(p.html.contains("Too many sign-in attempts."), "{}", p.html);
    assert!(
        p.headers[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(p.session_cookie().is_none());
    // Another account is not held up.
    session_of(&app, demo::BANK_ADMIN.username, demo::BANK_ADMIN.password).await;
}

/// A function of several routes has figures per route: `sessions` serves a list (GET) and an
/// end (DELETE), and each row counts only its own.
async fn each_route_of_a_function_has_figures_of_its_own(app: TestApp) {
    let cookie = session_of(&app, demo::ADMIN.username, demo::ADMIN.password).await;
    for _ in 0..2 {
        let a = app.send(app.client.get(app.url("/auth/sessions/"))).await;
        assert_eq!(a.status, 401);
    }
    let a = app
        .send(app.client.delete(app.url("/auth/sessions/1/")))
        .await;
    assert_eq!(a.status, 401);
    let (_, m) = metrics(&app, Some(&cookie), None).await;
    let route = |method: &str, path: &str| {
        m["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["method"] == method && e["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{method} {path} in {m}"))
    };
    let list = route("GET", "/auth/sessions/");
    let end = route("DELETE", "/auth/sessions/{id}/");
    assert_eq!(counts(&list["all_time"]), tally((0, 2, 0)), "{list}");
    assert_eq!(counts(&end["all_time"]), tally((0, 1, 0)), "{end}");
    assert_eq!(end["all_time"]["latency_ms"]["timed_requests"], 1);
    assert_eq!(counts(&m["all_time"]), tally((0, 3, 0)));
}

async fn metrics_json_needs_a_session_or_an_admin_bearer_token(app: TestApp) {
    let (status, body) = metrics(&app, None, None).await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("Sign in"),
        "{body}"
    );
    let (status, body) = metrics(&app, None, Some("not-a-token")).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "Invalid Auth Token."}))
    );
    let (status, _) = metrics(&app, Some("dfcu_dashboard=1.0.99999999999.forged"), None).await;
    assert_eq!(status, 401);
    let james = app.access_token(&demo::JAMES).await;
    let (status, body) = metrics(&app, None, Some(&james)).await;
    assert_eq!(status, 403, "{body}");
    let teller = app.access_token(&demo::BANK_ADMIN).await;
    let (status, body) = metrics(&app, None, Some(&teller)).await;
    assert_eq!(status, 200);
    assert_eq!(
        counts(&body["all_time"]),
        tally((2, 0, 0)),
        "the two token requests"
    );
}

async fn the_session_cookie_is_http_only_strict_short_lived_and_secure_over_https(app: TestApp) {
    let p = sign_in(&app, demo::ADMIN.username, demo::ADMIN.password).await;
    let (_, header) = p.session_cookie().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api", "Max-Age=1800"] {
        assert!(header.contains(attribute), "{header}");
    }
    assert!(!header.contains("Secure"), "plain HTTP locally: {header}");
    let p = read(
        client()
            .post(app.url("/api/login/"))
            .header("x-forwarded-proto", "https")
            .form(&[("username", "admin"), ("password", "1234")]),
    )
    .await;
    assert!(p.session_cookie().unwrap().1.ends_with("; Secure"));
}

async fn logout_ends_the_session(app: TestApp) {
    let cookie = session_of(&app, demo::ADMIN.username, demo::ADMIN.password).await;
    let page = dashboard(&app, Some(&cookie)).await;
    assert!(page.is_dashboard());
    assert!(page
        .html
        .contains(r#"<form method="post" action="/api/logout/">"#));
    let out = read(
        client()
            .post(app.url("/api/logout/"))
            .header("origin", &app.base)
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.headers[LOCATION], "/api/?signed_out=1");
    let (cleared, header) = out.session_cookie().expect("the cookie is cleared");
    assert_eq!(cleared, "dfcu_dashboard=");
    assert!(header.contains("Max-Age=0"), "{header}");
    // The browser now sends the cleared cookie, or none: the login page, saying so.
    let back = read(
        client()
            .get(app.url("/api/?signed_out=1"))
            .header("cookie", &cleared),
    )
    .await;
    assert!(back.is_login_page());
    assert!(back.html.contains("You have signed out."));
    assert_eq!(metrics(&app, Some(&cleared), None).await.0, 401);
}

async fn deactivation_or_a_forged_cookie_ends_the_session(app: TestApp) {
    let cookie = session_of(&app, demo::BANK_ADMIN.username, demo::BANK_ADMIN.password).await;
    let forged = cookie.replacen('=', "=1", 1);
    let p = dashboard(&app, Some(&forged)).await;
    assert!(p.is_login_page());
    assert!(p
        .html
        .contains("Your session has ended. Please sign in again."));
    assert!(p.session_cookie().unwrap().1.contains("Max-Age=0"));

    assert!(dashboard(&app, Some(&cookie)).await.is_dashboard());
    let access = app.code_token(&demo::BANK_ADMIN).await;
    let a = app
        .call("PUT", "/auth/account-deactivate/", None, Some(&access))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let p = dashboard(&app, Some(&cookie)).await;
    assert!(
        p.is_login_page(),
        "a deactivated admin's session ends at once"
    );
    assert_eq!(metrics(&app, Some(&cookie), None).await.0, 401);
}

async fn a_cross_site_sign_in_or_sign_out_is_refused(app: TestApp) {
    let p = read(
        client()
            .post(app.url("/api/login/"))
            .header("origin", "http://evil.example")
            .form(&[("username", "admin"), ("password", "1234")]),
    )
    .await;
    assert_eq!(p.status, 403);
    assert!(p.session_cookie().is_none());
    assert!(p
        .html
        .contains("This form can only be sent from the dashboard"));
    let p = read(
        client()
            .post(app.url("/api/logout/"))
            .header("sec-fetch-site", "cross-site"),
    )
    .await;
    assert_eq!(p.status, 403);
    assert!(p.session_cookie().is_none());
}

async fn text_people_typed_is_escaped_on_the_pages(app: TestApp) {
    let hostile = r#"<script>alert('x')</script> "Teller" & Co"#;
    let access = app.code_token(&demo::BANK_ADMIN).await;
    let a = app
        .call(
            "PUT",
            "/auth/user-update/",
            Some(&json!({"username": demo::BANK_ADMIN.username, "name": hostile})),
            Some(&access),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let cookie = session_of(&app, demo::BANK_ADMIN.username, demo::BANK_ADMIN.password).await;
    let page = dashboard(&app, Some(&cookie)).await;
    assert!(page.is_dashboard());
    assert!(!page.html.contains("<script"), "{}", page.html);
    assert!(page
        .html
        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;Teller&quot; &amp; Co"));

    let p = sign_in(&app, r#""><script>alert(1)</script>"#, "x").await;
    assert_eq!(p.status, 401);
    assert!(!p.html.contains("<script"));
    assert!(p
        .html
        .contains(r#"value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;""#));
}

on_both_backends!(
    the_figures_are_exactly_the_requests_driven_in_json_and_on_the_page,
    the_dashboards_own_requests_are_not_counted,
    anyone_but_an_admin_is_refused_on_the_login_page,
    sign_in_attempts_are_throttled_per_account,
    metrics_json_needs_a_session_or_an_admin_bearer_token,
    each_route_of_a_function_has_figures_of_its_own,
    the_session_cookie_is_http_only_strict_short_lived_and_secure_over_https,
    logout_ends_the_session,
    deactivation_or_a_forged_cookie_ends_the_session,
    a_cross_site_sign_in_or_sign_out_is_refused,
    text_people_typed_is_escaped_on_the_pages,
);

/// What the dashboard costs DynamoDB, counted at the emulator: one `Scan` ever (the first report,
/// starting the all-time roll-up), then a bounded set of `Query`s however much was counted.
mod reads {
    mod aws {
        use acceptance::{demo, moto, TestApp};

        async fn report(app: &TestApp, admin: &str) {
            let m = app
                .send(
                    app.client
                        .get(app.url("/api/metrics.json"))
                        .bearer_auth(admin),
                )
                .await;
            assert_eq!(m.status, 200, "{}", m.body);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_report_is_a_bounded_set_of_queries_and_scans_once_ever() {
            let emulator = moto::Dedicated::start();
            let sdk = moto::sdk_config_at(&emulator.url()).await;
            let app = TestApp::spawn_on(sdk, |_| {}).await;
            let admin = app.access_token(&demo::ADMIN).await;
            for _ in 0..30 {
                app.token(demo::JAMES.username, "wrong").await;
            }
            let parts = u64::from(app.ctx.config.counter_parts());
            moto::take_operation_counts(&emulator.url()).await;

            report(&app, &admin).await;
            let first = moto::take_operation_counts(&emulator.url()).await;
            println!("the first report: {first}");
            assert_eq!(
                first["Scan"], 8,
                "the first report starts the all-time roll-up, one pass in 8 segments: {first}"
            );

            for _ in 0..3 {
                report(&app, &admin).await;
                let later = moto::take_operation_counts(&emulator.url()).await;
                assert_eq!(later.get("Scan"), None, "never again: {later}");
                // The roll-ups and the losses, then each open hour's parts and its earlier-layout
                // partition: the current hour, and the one before while it is closing.
                let most = 2 + 2 * (parts + 1);
                let queries = later["Query"].as_u64().unwrap_or(0);
                println!("a later report: {later}");
                assert!(
                    queries <= most,
                    "{queries} queries, at most {most}: {later}"
                );
                assert!(queries >= 2 + parts, "{later}");
            }
        }
    }
}
