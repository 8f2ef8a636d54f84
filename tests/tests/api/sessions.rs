//! Sessions that end when they should (ARCHITECTURE.md §6), tried as the holder of a stolen token
//! would: a login family has an absolute end however often it is refreshed; a family revoked by
//! re-use, a logout or its user (or an admin) ending it stops its access tokens on their next
//! use; `logout-all` ends every login; a dashboard cookie copied before sign-out opens nothing.

use acceptance::{demo, on_both_backends, peek_claims, Answer, TestApp, TestUser};
use serde_json::{json, Value};

/// The default absolute lifetime of a login (`SESSION_MAX_SECS`).
const SESSION_MAX_SECS: i64 = 30 * 86_400;

async fn info(app: &TestApp, user: &TestUser, access: &str) -> u16 {
    app.call(
        "GET",
        &format!("/auth/info/{}/", user.id),
        None,
        Some(access),
    )
    .await
    .status
}

fn pair(a: &Answer) -> (String, String) {
    let token = |kind: &str| a.body[kind].as_str().expect("a token").to_string();
    (token("access"), token("refresh"))
}

/// Signs `user` in with the code from `client`'s address and user agent; (access, refresh).
async fn sign_in_as(app: &TestApp, user: &TestUser, agent: &str) -> (String, String) {
    let send = |path: String, body: Value| {
        app.send(
            app.client
                .post(app.url(&path))
                .header("user-agent", agent)
                .json(&body),
        )
    };
    let a = send(
        "/auth/login/".into(),
        json!({"email": user.email, "password": user.password, "otpType": "Email"}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let code = app.code_sent_to(&user.email).await;
    let a = send(format!("/auth/login/{}/", user.id), json!({ "otp": code })).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let token = |kind: &str| a.body["tokens"][kind].as_str().unwrap().to_string();
    (token("access"), token("refresh"))
}

async fn sessions(app: &TestApp, access: &str, user_id: Option<u64>) -> Answer {
    let path = match user_id {
        Some(id) => format!("/auth/sessions/?user_id={id}"),
        None => "/auth/sessions/".into(),
    };
    app.call("GET", &path, None, Some(access)).await
}

async fn a_login_ends_at_its_absolute_end_however_often_it_is_refreshed(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (_, mut refresh) = app.session(&user).await;
    let started = app.ctx.config.clock.now();
    loop {
        // Every 20 hours: inside the refresh token's own day, every time.
        app.ctx.config.clock.advance(20 * 3600);
        let a = app.refresh(&refresh).await;
        let now = app.ctx.config.clock.now();
        if now >= started + SESSION_MAX_SECS {
            assert_eq!(a.status, 401, "past the absolute end: {:?}", a.body);
            break;
        }
        assert_eq!(a.status, 200, "{:?}", a.body);
        let (_, next) = pair(&a);
        let exp = peek_claims(&next)["exp"].as_i64().unwrap();
        assert!(
            exp <= started + SESSION_MAX_SECS + 5,
            "a refresh token never outlives its login"
        );
        refresh = next;
    }
}

async fn a_revoked_familys_access_tokens_stop_at_once(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (access, refresh) = app.session(&user).await;
    let a = app.refresh(&refresh).await;
    assert_eq!(a.status, 200);
    let (newer_access, _) = pair(&a);
    assert_eq!(info(&app, &user, &access).await, 200);
    // The spent refresh token again: a thief's copy, or the owner's. The family is revoked...
    assert_eq!(app.refresh(&refresh).await.status, 401);
    // ...and every access token it issued stops on its next use, not five minutes later.
    assert_eq!(info(&app, &user, &access).await, 401);
    assert_eq!(info(&app, &user, &newer_access).await, 401);
    // Another login of the same account is untouched.
    let (other, _) = app.session(&user).await;
    assert_eq!(info(&app, &user, &other).await, 200);
}

async fn logout_ends_this_login_at_once_and_no_other(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (access, refresh) = app.session(&user).await;
    let (other_access, other_refresh) = app.session(&user).await;
    let a = app.call("POST", "/auth/logout/", None, Some(&access)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(info(&app, &user, &access).await, 401);
    assert_eq!(app.refresh(&refresh).await.status, 401);
    assert_eq!(
        app.call("POST", "/auth/logout/", None, Some(&access))
            .await
            .status,
        401,
        "an ended login cannot even sign out again"
    );
    assert_eq!(info(&app, &user, &other_access).await, 200);
    assert_eq!(app.refresh(&other_refresh).await.status, 200);
    // Long after, the ended login's refresh token is still refused, and writes nothing.
    app.ctx.config.clock.advance(600);
    let before = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert_eq!(app.refresh(&refresh).await.status, 401);
    let after = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert_eq!(
        after.rev, before.rev,
        "no re-use alarm for a signed-out login"
    );
}

async fn logout_all_ends_every_login_of_the_account(app: TestApp) {
    let user = app.new_user("DEVELOPER").await;
    let (web, web_refresh) = app.session(&user).await;
    let (phone, phone_refresh) = app.session(&user).await;
    let dfcu = app.token(&user.username, &user.password).await;
    let (dfcu_access, _) = pair(&dfcu);
    let a = app
        .call("POST", "/auth/logout-all/", None, Some(&web))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    for access in [&web, &phone] {
        assert_eq!(info(&app, &user, access).await, 401);
    }
    for refresh in [&web_refresh, &phone_refresh] {
        assert_eq!(app.refresh(refresh).await.status, 401);
    }
    let a = app
        .call(
            "POST",
            "/api/accounts/loans/",
            Some(&json!({"account_number": "0000000000"})),
            Some(&dfcu_access),
        )
        .await;
    assert_eq!(a.status, 401, "the DFCU grant too: {:?}", a.body);
    // Signing in again works.
    let (fresh, _) = app.session(&user).await;
    assert_eq!(info(&app, &user, &fresh).await, 200);
}

async fn the_session_list_shows_each_login_and_ends_one(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (laptop, _) = sign_in_as(&app, &user, "Laptop/1.0").await;
    let (phone, phone_refresh) = sign_in_as(&app, &user, "Phone/2.0").await;
    app.ctx.config.clock.advance(60);
    assert_eq!(app.refresh(&phone_refresh).await.status, 200);
    let a = sessions(&app, &laptop, None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let list = a.body["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let by_agent = |agent: &str| {
        list.iter()
            .find(|s| s["user_agent"] == agent)
            .unwrap_or_else(|| panic!("no {agent} in {list:?}"))
            .clone()
    };
    let (on_laptop, on_phone) = (by_agent("Laptop/1.0"), by_agent("Phone/2.0"));
    assert_eq!(on_laptop["current"], true);
    assert_eq!(on_phone["current"], false);
    assert_eq!(on_phone["source_ip"], "127.0.0.1");
    assert_eq!(on_phone["earned_with"], json!(["pwd", "otp"]));
    assert_eq!(on_phone["api"], "fintract");
    assert_ne!(
        on_phone["last_refreshed_at"], on_phone["started_at"],
        "the refresh is recorded"
    );
    let id = on_phone["id"].as_str().unwrap();
    let a = app
        .call(
            "DELETE",
            &format!("/auth/sessions/{id}/"),
            None,
            Some(&laptop),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(info(&app, &user, &phone).await, 401);
    assert_eq!(info(&app, &user, &laptop).await, 200);
    let a = sessions(&app, &laptop, None).await;
    assert_eq!(a.body["sessions"].as_array().unwrap().len(), 1);
    let a = app
        .call(
            "DELETE",
            &format!("/auth/sessions/{id}/"),
            None,
            Some(&laptop),
        )
        .await;
    assert_eq!(a.status, 404, "ended already");
}

async fn nobody_sees_or_ends_someone_elses_sessions(app: TestApp) {
    let victim = app.new_user("CUSTOMER").await;
    let stranger = app.new_user("CUSTOMER").await;
    let (victims, _) = app.session(&victim).await;
    let (strangers, _) = app.session(&stranger).await;
    let a = sessions(&app, &victims, None).await;
    let id = a.body["sessions"][0]["id"].as_str().unwrap().to_string();
    let a = sessions(&app, &strangers, Some(victim.id)).await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    for path in [
        format!("/auth/sessions/{id}/"),
        "/auth/sessions/not-a-session/".into(),
        format!("/auth/sessions/{}/", "0".repeat(32)),
    ] {
        let a = app.call("DELETE", &path, None, Some(&strangers)).await;
        assert_eq!(a.status, 404, "{path}: {:?}", a.body);
    }
    let a = app
        .call(
            "POST",
            "/auth/logout-all/",
            Some(&json!({ "user_id": victim.id })),
            Some(&strangers),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    assert_eq!(info(&app, &victim, &victims).await, 200, "untouched");
    // A password-only (DFCU) token reads no sessions of the Fintract API.
    let dfcu = app.token(&victim.username, &victim.password).await;
    let (dfcu_access, _) = pair(&dfcu);
    assert_eq!(sessions(&app, &dfcu_access, None).await.status, 403);
}

async fn admins_end_the_sessions_of_users_below_them(app: TestApp) {
    let customer = app.new_user("CUSTOMER").await;
    let (access, refresh) = app.session(&customer).await;
    let teller = app.code_token(&demo::BANK_ADMIN).await;
    let a = sessions(&app, &teller, Some(customer.id)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let id = a.body["sessions"][0]["id"].as_str().unwrap().to_string();
    let a = app
        .call(
            "DELETE",
            &format!("/auth/sessions/{id}/"),
            None,
            Some(&teller),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(info(&app, &customer, &access).await, 401);
    assert_eq!(app.refresh(&refresh).await.status, 401);

    // Not above: a bank admin ends nothing of a Fintract admin's.
    let admin = app.code_token(&demo::ADMIN).await;
    let admin_id = app.stored(&demo::ADMIN).await.id;
    let a = sessions(&app, &admin, None).await;
    let admins = a.body["sessions"][0]["id"].as_str().unwrap().to_string();
    let a = app
        .call(
            "DELETE",
            &format!("/auth/sessions/{admins}/"),
            None,
            Some(&teller),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    let a = app
        .call(
            "POST",
            "/auth/logout-all/",
            Some(&json!({ "user_id": admin_id })),
            Some(&teller),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    assert_eq!(
        app.call(
            "GET",
            &format!("/auth/info/{admin_id}/"),
            None,
            Some(&admin)
        )
        .await
        .status,
        200
    );
    // A Fintract admin ends every login of the customer.
    let (again, _) = app.session(&customer).await;
    let a = app
        .call(
            "POST",
            "/auth/logout-all/",
            Some(&json!({ "user_id": customer.id })),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(info(&app, &customer, &again).await, 401);
}

async fn a_dashboard_cookie_copied_before_sign_out_opens_nothing_after(app: TestApp) {
    let client = acceptance::no_redirects();
    let (status, cookie) = app.dashboard_sign_in(&client).await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    let metrics = |cookie: String| {
        let client = client.clone();
        let url = app.url("/api/metrics.json");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(metrics(cookie.clone()).await, 200);
    let out = client
        .post(app.url("/api/logout/"))
        .header("origin", &app.base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(
        metrics(cookie.clone()).await,
        401,
        "the copy kept from before the sign-out"
    );
    // Signing in again opens a new session.
    let (status, again) = app.dashboard_sign_in(&client).await;
    assert_eq!(status, 303);
    assert_ne!(again.as_deref(), Some(cookie.as_str()));
}

on_both_backends!(
    a_login_ends_at_its_absolute_end_however_often_it_is_refreshed,
    a_revoked_familys_access_tokens_stop_at_once,
    logout_ends_this_login_at_once_and_no_other,
    logout_all_ends_every_login_of_the_account,
    the_session_list_shows_each_login_and_ends_one,
    nobody_sees_or_ends_someone_elses_sessions,
    admins_end_the_sessions_of_users_below_them,
    a_dashboard_cookie_copied_before_sign_out_opens_nothing_after,
);
