//! The dashboard in a real browser (ARCHITECTURE.md §9): Debian's headless Chromium opens `/api`, signs
//! in as the demo operator, sees the four figures and the chart, and signs out. It runs on the
//! embedded backend (hence its `embedded` module), and saves screenshots under `target/`.

use acceptance::chromium::Chromium;
use acceptance::{demo, target_dir, Backend, TestApp, MIX};

/// Runs `steps` in a fresh Chromium on the gateway at `base`, off the async runtime; a failure
/// names the step, and the page as it was is saved as `target/<name>-failure.png`.
async fn in_chromium(
    base: &str,
    name: &'static str,
    steps: fn(&mut Chromium, &str) -> Result<(), String>,
) {
    let base = base.to_string();
    let run = tokio::task::spawn_blocking(move || {
        let mut browser = Chromium::launch()?;
        let result = steps(&mut browser, &base);
        if result.is_err() {
            let shot = target_dir().join(format!("{name}-failure.png"));
            let _ = browser.screenshot(&shot, 1280, false);
        }
        result
    })
    .await;
    match run {
        Ok(Ok(())) => {}
        Ok(Err(step)) => panic!("in Chromium: {step}"),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The operator's visit, step by step; any failure names the step and what the page showed.
fn visit(b: &mut Chromium, base: &str) -> Result<(), String> {
    let expect = |what: &str, ok: bool| if ok { Ok(()) } else { Err(what.to_string()) };
    b.viewport(1280, 900, false)?;
    b.goto(&format!("{base}/api"))?;
    b.wait_for("document.querySelector('#username')")?;
    expect(
        "the login page's heading",
        b.text("h1")?.as_deref() == Some("Login"),
    )?;

    b.type_into("#username", demo::ADMIN.username)?;
    b.type_into("#password", demo::ADMIN.password)?;
    b.click("button[type=submit]")?;
    b.wait_for("document.querySelector('#all-requests')")?;
    expect(
        "the dashboard's heading",
        b.text("h1")?.as_deref() == Some("API Dashboard"),
    )?;
    expect(
        "the operator's name in the header",
        b.text("#operator")?.as_deref() == Some(demo::ADMIN.name),
    )?;

    let (p, n, f) = MIX;
    for (id, want) in [
        ("requests", p + n + f),
        ("failed", f),
        ("positive", p),
        ("negative", n),
    ] {
        for scope in ["all", "recent"] {
            let shown = b.text(&format!("#{scope}-{id}"))?;
            expect(
                &format!("#{scope}-{id} shows {want}, not {shown:?}"),
                shown == Some(want.to_string()),
            )?;
        }
    }
    let chart = b.eval(
        "(() => { const svg = document.querySelector('#hourly-chart'); if (!svg) return null; \
         const box = svg.getBoundingClientRect(); \
         const hours = [...svg.querySelectorAll('g.hour')]; \
         return { width: box.width, height: box.height, hours: hours.length, \
                  bars: svg.querySelectorAll('rect').length, \
                  requests: hours.reduce((s, g) => s + Number(g.dataset.requests), 0) }; })()",
    )?;
    expect(&format!("a drawn chart of 24 hours: {chart}"), {
        chart["hours"] == 24
            && chart["requests"] == p + n + f
            && chart["bars"].as_u64().unwrap_or(0) >= 3
            && chart["width"].as_f64().unwrap_or(0.0) > 500.0
            && chart["height"].as_f64().unwrap_or(0.0) > 150.0
    })?;
    // The p95 line: drawn, on its own axis (right of the bars), inside the plot, and each hour
    // with traffic says its p95 in its tooltip.
    let line = b.eval(
        "(() => { const svg = document.querySelector('#hourly-chart'); \
         const marks = [...svg.querySelectorAll('.p95')]; if (!marks.length) return null; \
         const plot = svg.getBoundingClientRect(); \
         const boxes = marks.map(m => m.getBoundingClientRect()); \
         const axis = [...svg.querySelectorAll('text.ms-axis')].map(t => t.textContent); \
         const timed = [...svg.querySelectorAll('g.hour')].filter(g => g.dataset.p95 !== ''); \
         return { marks: marks.length, axis, timed: timed.length, \
                  inside: boxes.every(r => r.top >= plot.top && r.bottom <= plot.bottom), \
                  stroke: getComputedStyle(marks[0]).stroke || getComputedStyle(marks[0]).fill, \
                  titled: timed.every(g => g.querySelector('title').textContent.includes('p95')) }; })()",
    )?;
    expect(&format!("a p95 line on its own axis: {line}"), {
        line["marks"].as_u64().unwrap_or(0) >= 1
            && line["timed"].as_u64().unwrap_or(0) >= 1
            && line["inside"] == true
            && line["titled"] == true
            && line["axis"].as_array().is_some_and(|a| {
                a.len() == 5
                    && a.iter().all(|t| {
                        t.as_str()
                            .is_some_and(|t| t.ends_with(" ms") || t.ends_with(" s"))
                    })
            })
    })?;
    let p95 = b.text("#recent-p95")?.unwrap_or_default();
    expect(
        &format!("the p95 figure is a duration: {p95:?}"),
        p95.ends_with(" ms") || p95.ends_with(" s"),
    )?;
    let performance = b.eval("document.querySelectorAll('#performance tbody tr').length")?;
    let endpoints = b.eval("document.querySelectorAll('#endpoints tbody tr').length")?;
    let api_routes = functions::routes().iter().filter(|r| r.counted).count();
    expect("a row per endpoint", endpoints == api_routes)?;
    expect("a latency row per endpoint", performance == api_routes)?;
    expect(
        "nothing loaded but the page itself",
        b.eval("performance.getEntriesByType('resource').length")? == 0,
    )?;
    expect(
        "the session cookie is out of the page's reach (HttpOnly)",
        b.eval("document.cookie")? == "",
    )?;
    let shot = target_dir().join("dashboard.png");
    b.screenshot(&shot, 1280, false)?;

    // At phone width the page fits the screen; only the chart and table scroll inside it.
    b.viewport(390, 844, true)?;
    b.goto(&format!("{base}/api/"))?;
    b.wait_for("document.querySelector('#all-requests')")?;
    let compact = b.eval(
        "[document.querySelector('#hourly-chart-compact').getBoundingClientRect().width, \
          document.querySelector('#hourly-chart').getBoundingClientRect().width]",
    )?;
    expect(
        &format!("the compact chart, as wide as the phone, instead of the wide one: {compact}"),
        compact[0].as_f64().unwrap_or(0.0) > 300.0 && compact[1] == 0,
    )?;
    let overflow = b.eval("document.documentElement.scrollWidth - window.innerWidth")?;
    expect(
        &format!("no sideways scrolling at 390 px: {overflow}"),
        overflow.as_f64().is_some_and(|o| o <= 0.0),
    )?;
    b.screenshot(&target_dir().join("dashboard-phone.png"), 390, true)?;
    expect(
        "reloading the dashboard does not count as API traffic",
        b.text("#all-requests")? == Some((p + n + f).to_string()),
    )?;

    b.viewport(1280, 900, false)?;
    b.click("header button[type=submit]")?;
    b.wait_for("document.querySelector('#username')")?;
    expect(
        "the sign-out notice",
        b.text(".notice")?.as_deref() == Some("You have signed out."),
    )?;
    b.goto(&format!("{base}/api"))?;
    b.wait_for("document.querySelector('#username')")?;
    expect(
        "no dashboard after signing out",
        b.eval("document.querySelector('#all-requests') === null")? == true,
    )?;
    println!("screenshots: {}", shot.display());
    Ok(())
}

/// Opens operation `id` (tag and operationId) and sends its example request.
fn execute(b: &mut Chromium, id: &str) -> Result<serde_json::Value, String> {
    let op = format!("#operations-{id}");
    b.click(&format!("{op} .opblock-summary-control"))?;
    b.wait_for(&format!("document.querySelector('{op} button.execute')"))?;
    b.click(&format!("{op} button.execute"))?;
    b.wait_for(&format!(
        "document.querySelector('{op} .live-responses-table tbody .response-col_status')"
    ))?;
    b.eval(&format!(
        "(() => {{ const t = document.querySelector('{op} .live-responses-table'); \
         return {{ status: t.querySelector('tbody .response-col_status').textContent.trim(), \
                  body: t.querySelector('.highlight-code, .microlight').textContent }}; }})()"
    ))
}

/// A person tries the API on `/docs`: every operation is listed, a sign-in through the page
/// authorizes it, and the loans call then answers with James Blunt's loan — all in the browser,
/// with nothing fetched from anywhere but this server.
fn try_the_api(b: &mut Chromium, base: &str) -> Result<(), String> {
    let expect = |what: &str, ok: bool| if ok { Ok(()) } else { Err(what.to_string()) };
    b.viewport(1280, 900, false)?;
    b.goto(&format!("{base}/docs"))?;
    let operations = acceptance::contract::operations().len();
    b.wait_for(&format!(
        "document.querySelectorAll('.opblock').length === {operations}"
    ))?;
    b.screenshot(&target_dir().join("docs-overview.png"), 1280, false)?;
    expect(
        "the contract's title",
        b.text(".info .title")?
            .is_some_and(|t| t.starts_with("DFCU loans API and Fintract authentication API")),
    )?;

    let token = execute(b, "DFCU-token")?;
    expect(
        &format!("POST /token/ with the example answers 200: {token}"),
        token["status"] == "200" && token["body"].as_str().unwrap_or("").contains("access"),
    )?;
    // The page authorizes itself from the answer (docs.js): wait for it, not for a fixed time.
    b.wait_for("!!window.ui.authSelectors.authorized().get('bearerAuth')")
        .map_err(|e| format!("the page authorized itself with the new token: {e}"))?;

    let loans = execute(b, "DFCU-loans")?;
    let body = loans["body"].as_str().unwrap_or("");
    expect(
        &format!("POST /api/accounts/loans/ answers 200 with the loan: {loans}"),
        loans["status"] == "200" && body.contains("L000005") && body.contains("James Blunt"),
    )?;
    expect(
        "everything from this server",
        b.eval(
            "performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin))",
        )? == true,
    )?;
    let shot = target_dir().join("docs.png");
    b.screenshot(&shot, 1280, false)?;
    println!("screenshot: {}", shot.display());
    Ok(())
}

/// A person opens the password-reset link from their mail (`link`, whole) and sets a new
/// password on the page it leads to.
fn reset_from_the_mail(b: &mut Chromium, link: &str) -> Result<(), String> {
    let expect = |what: &str, ok: bool| if ok { Ok(()) } else { Err(what.to_string()) };
    b.viewport(390, 844, true)?;
    b.goto(link)?;
    b.wait_for("document.querySelector('#password2')")?;
    expect(
        "the page's heading",
        b.text("h1")?.as_deref() == Some("Choose a new password"),
    )?;
    b.type_into("#password", NEW_PASSWORD)?;
    b.type_into("#password2", NEW_PASSWORD)?;
    b.click("button[type=submit]")?;
    b.wait_for("document.querySelector('.notice')")?;
    let notice = b.text(".notice")?.unwrap_or_default();
    expect(
        &format!("the outcome says the password was reset: {notice:?}"),
        notice.starts_with("Your password has been reset"),
    )?;
    expect(
        "no form once it is done",
        b.eval("document.querySelector('form') === null")? == true,
    )?;
    let shot = target_dir().join("password-reset.png");
    b.screenshot(&shot, 390, true)?;
    Ok(())
}

const NEW_PASSWORD: &str = "Entebbe harbour kite 17";

mod embedded {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_person_resets_a_forgotten_password_from_the_mailed_link_in_chromium() {
        let app = TestApp::spawn(Backend::Embedded).await;
        let user = app.new_user("CUSTOMER").await;
        let a = app
            .post_json(
                "/auth/password-reset/",
                &serde_json::json!({ "email": user.email }),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let mail = app.last_message_to(&user.email).await;
        let link = mail
            .split_whitespace()
            .find(|w| w.contains("/auth/password-reset/confirm/?token="))
            .expect("a link in the mail")
            .to_string();
        in_chromium(&link, "password-reset", reset_from_the_mail).await;
        let a = app.login(&user.email, NEW_PASSWORD, "Email").await;
        assert_eq!(a.status, 200, "the new password signs in: {:?}", a.body);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_person_tries_the_api_from_the_docs_page_in_chromium() {
        let app = TestApp::spawn(Backend::Embedded).await;
        in_chromium(&app.base, "docs", try_the_api).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_operator_signs_in_sees_the_figures_and_the_chart_and_signs_out_in_chromium() {
        let app = TestApp::spawn(Backend::Embedded).await;
        app.drive_the_documented_mix().await;
        in_chromium(&app.base, "dashboard", visit).await;
    }
}
