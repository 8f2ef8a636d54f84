//! Sign-in that strangers cannot disrupt (ARCHITECTURE.md §6), tried as a stranger would: from
//! other source addresses (`TestApp::source`), against a victim's sequential id and username.
//!
//! - A code is judged against its attempt's own budget when the attempt's handle comes with it;
//!   without the handle, against an open budget capped per source and in all.
//! - Wrong passwords share one budget per account across `/token/`, `/auth/login/` and the
//!   dashboard, with a daily bound; a known device (its token from an earlier sign-in) has a
//!   budget of its own, so a stranger's failures never lock its owner out.

use acceptance::{demo, on_both_backends, Answer, TestApp, TestUser};
use serde_json::{json, Value};

/// A code other than `code`, the `n`th such.
fn wrong(code: &str, n: u32) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1 + n) % 1_000_000)
}

/// Starts a login for `user` and returns the attempt's handle and the code sent.
async fn start(app: &TestApp, user: &TestUser) -> (String, String) {
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let handle = a.body["data"]["attempt"]
        .as_str()
        .unwrap_or_else(|| panic!("no attempt handle in {:?}", a.body))
        .to_string();
    (handle, app.code_sent_to(&user.email).await)
}

/// `POST /auth/login/{id}/` from `client`, with or without the handle.
async fn redeem(
    app: &TestApp,
    client: &reqwest::Client,
    id: u64,
    code: &str,
    handle: Option<&str>,
) -> Answer {
    let mut body = json!({ "otp": code });
    if let Some(h) = handle {
        body["attempt"] = json!(h);
    }
    app.post_json_with(client, &format!("/auth/login/{id}/"), &body)
        .await
}

async fn a_strangers_wrong_codes_never_burn_the_code_of_the_handle_holder(app: TestApp) {
    let victim = app.new_user("CUSTOMER").await;
    let (handle, code) = start(&app, &victim).await;
    // Strangers at four addresses spend all the open tries, and try handles of their own.
    for source in 2..=5u8 {
        let stranger = app.source(source);
        for n in 0..4 {
            let a = redeem(&app, &stranger, victim.id, &wrong(&code, n), None).await;
            assert_eq!((a.status, a.error()), (401, "Invalid or expired code."));
        }
        let forged = format!("{:032x}", source);
        let a = redeem(&app, &stranger, victim.id, &code, Some(&forged)).await;
        assert_eq!(a.status, 401, "a guessed handle with the right code");
    }
    let a = redeem(&app, &app.client, victim.id, &code, Some(&handle)).await;
    assert_eq!(
        a.status, 200,
        "the genuine code with its handle: {:?}",
        a.body
    );
}

async fn a_client_without_the_handle_survives_a_stranger_at_another_address(app: TestApp) {
    let victim = app.new_user("CUSTOMER").await;
    let (_, code) = start(&app, &victim).await;
    let stranger = app.source(2);
    for n in 0..5 {
        let a = redeem(&app, &stranger, victim.id, &wrong(&code, n), None).await;
        assert_eq!(a.status, 401);
    }
    // The published client: the id and the code, nothing else.
    let a = app.verify_otp(victim.id, &code).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}

/// A client that sends the field empty (it never kept a handle) is judged as one that sends no
/// handle, not refused as a wrong one.
async fn an_empty_handle_is_no_handle(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (_, code) = start(&app, &user).await;
    let a = redeem(&app, &app.client, user.id, &code, Some("")).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}

async fn the_open_budget_is_three_per_source_and_ten_in_all(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (handle, code) = start(&app, &user).await;
    let first = app.source(2);
    for n in 0..3 {
        assert_eq!(
            redeem(&app, &first, user.id, &wrong(&code, n), None)
                .await
                .status,
            401
        );
    }
    let a = redeem(&app, &first, user.id, &code, None).await;
    assert_eq!(a.status, 401, "a fourth try from one source");
    // Seven more from other sources spend the open tries (three of ten went already).
    for (i, source) in [3u8, 3, 3, 4, 4, 4, 5].into_iter().enumerate() {
        let a = redeem(
            &app,
            &app.source(source),
            user.id,
            &wrong(&code, 10 + i as u32),
            None,
        )
        .await;
        assert_eq!(a.status, 401);
    }
    let a = redeem(&app, &app.source(6), user.id, &code, None).await;
    assert_eq!(
        a.status, 401,
        "the open tries are spent, all sources together"
    );
    let a = redeem(&app, &app.client, user.id, &code, Some(&handle)).await;
    assert_eq!(
        a.status, 200,
        "the handle's own tries are whole: {:?}",
        a.body
    );
}

async fn a_code_is_tried_at_most_fifteen_times(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (handle, code) = start(&app, &user).await;
    for n in 0..5 {
        let a = redeem(&app, &app.client, user.id, &wrong(&code, n), Some(&handle)).await;
        assert_eq!(a.status, 401);
    }
    for n in 0..10u32 {
        let source = app.source(2 + (n / 3) as u8);
        let a = redeem(&app, &source, user.id, &wrong(&code, 100 + n), None).await;
        assert_eq!(a.status, 401);
    }
    for (client, handle) in [
        (app.client.clone(), Some(handle.as_str())),
        (app.source(9), None),
    ] {
        let a = redeem(&app, &client, user.id, &code, handle).await;
        assert_eq!(a.status, 401, "the right code after fifteen wrong tries");
    }
}

/// `POST /token/` from `client`, with a device token if given.
async fn token_from(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> Answer {
    let mut body = json!({"username": username, "password": password});
    if let Some(d) = device {
        body["device"] = json!(d);
    }
    app.post_json_with(client, "/token/", &body).await
}

/// A stranger at 127.0.0.2 spends the account's budget of wrong passwords from unknown
/// devices (10 in a window) on `/token/`.
async fn a_stranger_spends_the_budget(app: &TestApp, username: &str) {
    let stranger = app.source(2);
    for _ in 0..10 {
        let a = token_from(app, &stranger, username, "a guess", None).await;
        assert_eq!(a.status, 401);
    }
}

/// `POST /auth/login/` from `client`, with a device token if given.
async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> Answer {
    let mut body = json!({"email": email, "password": password, "otpType": "Email"});
    if let Some(d) = device {
        body["device"] = json!(d);
    }
    app.post_json_with(client, "/auth/login/", &body).await
}

/// The dashboard's sign-in form from `client`, with the browser's device cookie if given;
/// returns the status.
async fn dashboard_from(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> (u16, Vec<String>) {
    let mut r = client
        .post(app.url("/api/login/"))
        .header("origin", &app.base)
        .form(&[("username", username), ("password", password)]);
    if let Some(d) = device {
        r = r.header("cookie", format!("dfcu_device={d}"));
    }
    let answer = r.send().await.expect("the gateway answers");
    let cookies = answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    (answer.status().as_u16(), cookies)
}

/// A client that shows redirects as they are (the dashboard answers a sign-in with 303).
fn no_redirects(source: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, source]))
        .build()
        .expect("client")
}

fn device_of(a: &Answer) -> String {
    a.body["device"]
        .as_str()
        .unwrap_or_else(|| panic!("no device token in {:?}", a.body))
        .to_string()
}

async fn a_stranger_cannot_lock_a_known_device_out(app: TestApp) {
    app.start_of_window(900);
    let owner = demo::ADMIN;
    let first = token_from(&app, &app.client, owner.username, owner.password, None).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let device = device_of(&first);
    let stranger = app.source(2);
    let mut statuses = vec![];
    for _ in 0..12 {
        statuses.push(
            token_from(&app, &stranger, owner.username, "a guess", None)
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429; 2], "the stranger is throttled");

    // The owner's known device gets in on every path, the stranger's failures notwithstanding.
    let a = token_from(
        &app,
        &app.client,
        owner.username,
        owner.password,
        Some(&device),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(device_of(&a), device, "a known device keeps its token");
    let a = login_from(
        &app,
        &app.client,
        owner.email,
        owner.password,
        Some(&device),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let (status, _) = dashboard_from(
        &app,
        &no_redirects(1),
        owner.username,
        owner.password,
        Some(&device),
    )
    .await;
    assert_eq!(status, 303, "the dashboard, with the device cookie");

    // Without the device token, the owner waits like anyone unknown.
    let a = token_from(&app, &app.client, owner.username, owner.password, None).await;
    assert_eq!(a.status, 429);
    assert!(a.headers.contains_key("retry-after"));
    let (status, _) =
        dashboard_from(&app, &no_redirects(1), owner.username, owner.password, None).await;
    assert_eq!(status, 429);
}

async fn a_device_token_of_another_account_opens_nothing(app: TestApp) {
    app.start_of_window(900);
    let victim = app.new_user("DEVELOPER").await;
    let stranger_account = app.new_user("DEVELOPER").await;
    let stranger = app.source(2);
    let own = token_from(
        &app,
        &stranger,
        &stranger_account.username,
        &stranger_account.password,
        None,
    )
    .await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    let device = device_of(&own);
    let mut statuses = vec![];
    for _ in 0..11 {
        statuses.push(
            token_from(&app, &stranger, &victim.username, "a guess", Some(&device))
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(
        statuses[10], 429,
        "the stranger's own device is not the victim's"
    );
    for forged in ["", "0", &"f".repeat(32), &"x".repeat(64)] {
        let a = token_from(&app, &stranger, &victim.username, "a guess", Some(forged)).await;
        assert_eq!(a.status, 429, "{forged:?}");
    }
}

async fn every_sign_in_path_spends_one_budget_per_account(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("DEVELOPER").await;
    let stranger = app.source(2);
    for _ in 0..4 {
        let a = token_from(&app, &stranger, &user.username, "a guess", None).await;
        assert_eq!(a.status, 401);
    }
    for _ in 0..4 {
        let a = login_from(&app, &stranger, &user.email, "a guess", None).await;
        assert_eq!(a.status, 401);
    }
    for _ in 0..2 {
        let (status, _) =
            dashboard_from(&app, &no_redirects(2), &user.username, "a guess", None).await;
        assert_eq!(status, 401);
    }
    let owner = app.source(3);
    let a = token_from(&app, &owner, &user.username, &user.password, None).await;
    assert_eq!(
        a.status, 429,
        "ten failures across three paths: {:?}",
        a.body
    );
    let a = login_from(&app, &owner, &user.email, &user.password, None).await;
    assert_eq!(a.status, 429);
    let (status, _) =
        dashboard_from(&app, &no_redirects(3), &user.username, &user.password, None).await;
    assert_eq!(status, 429);
}

async fn a_right_password_spends_nothing_of_the_budget(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("DEVELOPER").await;
    for _ in 0..9 {
        assert_eq!(app.token(&user.username, "a guess").await.status, 401);
    }
    for _ in 0..3 {
        let a = app.token(&user.username, &user.password).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        app.token(&user.username, "a guess").await.status,
        401,
        "the tenth failure"
    );
    assert_eq!(app.token(&user.username, "a guess").await.status, 429);
}

async fn unknown_sources_get_thirty_failures_a_day(app: TestApp) {
    // Start just after a UTC midnight, so that every window below falls in one day.
    let now = app.ctx.config.clock.now();
    app.ctx
        .config
        .clock
        .advance(86_400 - now.rem_euclid(86_400) + 60);
    let user = app.new_user("DEVELOPER").await;
    for window in 0..3 {
        for n in 0..10 {
            let source = app.source(2 + window);
            let a = token_from(&app, &source, &user.username, "a guess", None).await;
            assert_eq!(a.status, 401, "window {window}, failure {n}");
        }
        app.ctx.config.clock.advance(900);
    }
    let a = token_from(&app, &app.source(9), &user.username, &user.password, None).await;
    assert_eq!(a.status, 429, "the day's thirty are spent: {:?}", a.body);
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        retry > 900,
        "until the day is over, not the window: {retry}"
    );
    app.ctx.config.clock.advance(86_400);
    let a = token_from(&app, &app.source(9), &user.username, &user.password, None).await;
    assert_eq!(a.status, 200, "the next day: {:?}", a.body);
}

async fn a_code_sign_in_answers_a_device_token_that_login_accepts(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("CUSTOMER").await;
    let a = app.sign_in(&user).await;
    let device = device_of(&a);
    let stranger = app.source(2);
    for _ in 0..10 {
        let a = login_from(&app, &stranger, &user.email, "a guess", None).await;
        assert_eq!(a.status, 401);
    }
    let a = login_from(
        &app,
        &app.client,
        &user.email,
        &user.password,
        Some(&device),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let code = app.code_sent_to(&user.email).await;
    let handle = a.body["data"]["attempt"].as_str().unwrap().to_string();
    let body: Value = json!({"otp": code, "attempt": handle, "device": device});
    let a = app
        .post_json(&format!("/auth/login/{}/", user.id), &body, None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(device_of(&a), device, "the same device keeps its token");
}

async fn the_dashboard_keeps_a_device_cookie(app: TestApp) {
    let (status, cookies) = dashboard_from(
        &app,
        &no_redirects(1),
        demo::ADMIN.username,
        demo::ADMIN.password,
        None,
    )
    .await;
    assert_eq!(status, 303);
    let device = cookies
        .iter()
        .find(|c| c.starts_with("dfcu_device="))
        .unwrap_or_else(|| panic!("no device cookie in {cookies:?}"));
    assert!(device.contains("HttpOnly"), "{device}");
    assert!(device.contains("SameSite=Strict"), "{device}");
    assert!(device.contains("Path=/api"), "{device}");
}

async fn another_accounts_code_tries_reset_no_budget(app: TestApp) {
    let victim = app.new_user("DEVELOPER").await;
    let other = app.new_user("CUSTOMER").await;
    // Two minutes before a window ends: a code issued now outlives the window.
    app.start_of_window(900);
    app.ctx.config.clock.advance(900 - 120);
    a_stranger_spends_the_budget(&app, &victim.username).await;
    let (_, code) = start(&app, &other).await;
    let a = redeem(&app, &app.source(3), other.id, &wrong(&code, 0), None).await;
    assert_eq!(a.status, 401);
    let a = token_from(&app, &app.source(2), &victim.username, "a guess", None).await;
    assert_eq!(
        a.status, 429,
        "the victim's budget still counts: {:?}",
        a.body
    );
}

/// At the start of a window, a new account signed in on `/token/`: it and its device token,
/// made a second before whatever the test does next.
async fn a_known_device(app: &TestApp) -> (TestUser, String) {
    app.start_of_window(900);
    let user = app.new_user("DEVELOPER").await;
    let a = token_from(app, &app.client, &user.username, &user.password, None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    app.ctx.config.clock.advance(1);
    (user, device_of(&a))
}

async fn logout_all_forgets_every_device(app: TestApp) {
    let (user, device) = a_known_device(&app).await;
    let code_access = app.access_of(&user).await;
    let out = app
        .call("POST", "/auth/logout-all/", None, Some(&code_access))
        .await;
    assert_eq!(out.status, 200, "{:?}", out.body);
    a_stranger_spends_the_budget(&app, &user.username).await;
    let a = token_from(
        &app,
        &app.client,
        &user.username,
        &user.password,
        Some(&device),
    )
    .await;
    assert_eq!(
        a.status, 429,
        "a forgotten device is an unknown one: {:?}",
        a.body
    );
}

/// A password change ends every other session (#19), so it forgets devices as logout-all does: a
/// device token from before is a stranger's again, and shares the stranger budget.
async fn a_password_change_forgets_every_device(app: TestApp) {
    let (user, device) = a_known_device(&app).await;
    let code_access = app.access_of(&user).await;
    let new_password = "Entebbe harbour kite 17";
    let body = json!({
        "current_password": user.password,
        "password": new_password,
        "password2": new_password,
    });
    let changed = app
        .call(
            "PUT",
            "/auth/change-password/",
            Some(&body),
            Some(&code_access),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    a_stranger_spends_the_budget(&app, &user.username).await;
    let a = token_from(
        &app,
        &app.client,
        &user.username,
        new_password,
        Some(&device),
    )
    .await;
    assert_eq!(
        a.status, 429,
        "a device from before the change is an unknown one: {:?}",
        a.body
    );
}

on_both_backends!(
    another_accounts_code_tries_reset_no_budget,
    logout_all_forgets_every_device,
    a_password_change_forgets_every_device,
    an_empty_handle_is_no_handle,
    a_strangers_wrong_codes_never_burn_the_code_of_the_handle_holder,
    a_client_without_the_handle_survives_a_stranger_at_another_address,
    the_open_budget_is_three_per_source_and_ten_in_all,
    a_code_is_tried_at_most_fifteen_times,
    a_stranger_cannot_lock_a_known_device_out,
    a_device_token_of_another_account_opens_nothing,
    every_sign_in_path_spends_one_budget_per_account,
    a_right_password_spends_nothing_of_the_budget,
    unknown_sources_get_thirty_failures_a_day,
    a_code_sign_in_answers_a_device_token_that_login_accepts,
    the_dashboard_keeps_a_device_cookie,
);
