//! Authenticator apps (ARCHITECTURE.md §6): TOTP codes computed here from the enrolment's
//! `otpauth://` URI with the app's algorithm, at the app's clock. A code works once; a recovery
//! code works once; once the app is on, an e-mail or SMS code no longer signs the account in; a
//! stolen access token removes nothing.

use acceptance::{on_both_backends, Answer, TestApp, TestUser};
use serde_json::{json, Value};

/// What the user's app would show at `at`, for the enrolment whose URI is `uri`.
fn app_code(uri: &str, at: i64) -> String {
    totp_rs::TOTP::from_url(uri)
        .expect("a valid otpauth URI")
        .generate(at as u64)
}

/// The app's code now, by the test's clock.
fn code_now(app: &TestApp, uri: &str) -> String {
    app_code(uri, app.ctx.now())
}

/// Moves the clock to the next 30-second step.
fn next_step(app: &TestApp) {
    let now = app.ctx.now();
    app.ctx.config.clock.advance(30 - now.rem_euclid(30));
}

async fn enrol(app: &TestApp, user: &TestUser, access: &str) -> Answer {
    app.call(
        "POST",
        "/auth/authenticator/",
        Some(&json!({ "current_password": user.password })),
        Some(access),
    )
    .await
}

async fn confirm(app: &TestApp, access: &str, code: &str) -> Answer {
    app.call(
        "POST",
        "/auth/authenticator/confirm/",
        Some(&json!({ "code": code })),
        Some(access),
    )
    .await
}

async fn remove(app: &TestApp, access: &str, code: Option<&str>) -> Answer {
    let body = match code {
        Some(c) => json!({ "code": c }),
        None => json!({}),
    };
    app.call("DELETE", "/auth/authenticator/", Some(&body), Some(access))
        .await
}

/// Turns an authenticator on for `user` (signed in with `access`, which it ends): its URI and
/// recovery codes.
async fn turn_on(app: &TestApp, user: &TestUser, access: &str) -> (String, Vec<String>) {
    let a = enrol(app, user, access).await;
    assert_eq!(a.status, 200, "enrol: {:?}", a.body);
    let uri = a.body["data"]["otpauth_uri"].as_str().unwrap().to_string();
    let a = confirm(app, access, &code_now(app, &uri)).await;
    assert_eq!(a.status, 200, "confirm: {:?}", a.body);
    let codes = a.body["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (uri, codes)
}

/// `POST /auth/login/` with `otpType: Totp`, then the code: the code check's answer.
async fn sign_in_with(app: &TestApp, user: &TestUser, code: &str) -> Answer {
    sign_in_from(app, &app.client, user, code, None).await
}

/// [`sign_in_with`] through `client`, presenting `device` (a device token) if given.
async fn sign_in_from(
    app: &TestApp,
    client: &reqwest::Client,
    user: &TestUser,
    code: &str,
    device: Option<&str>,
) -> Answer {
    let mut body = json!({"email": user.email, "password": user.password, "otpType": "Totp"});
    if let Some(d) = device {
        body["device"] = json!(d);
    }
    let a = app.post_json_with(client, "/auth/login/", &body).await;
    assert_eq!(a.status, 200, "login: {:?}", a.body);
    let attempt = a.body["data"]["attempt"].as_str().unwrap().to_string();
    let mut body = json!({ "otp": code, "attempt": attempt });
    if let Some(d) = device {
        body["device"] = json!(d);
    }
    app.post_json_with(client, &format!("/auth/login/{}/", user.id), &body)
        .await
}

/// Through `client`, with `user`'s password: two attempts with `otpType: Totp`, each given five
/// wrong codes with its handle (ten: a window's budget of app codes).
async fn wrong_app_codes(app: &TestApp, client: &reqwest::Client, user: &TestUser) {
    let login = json!({"email": user.email, "password": user.password, "otpType": "Totp"});
    for _ in 0..2 {
        let a = app.post_json_with(client, "/auth/login/", &login).await;
        let attempt = a.body["data"]["attempt"].as_str().unwrap().to_string();
        for _ in 0..5 {
            let wrong = json!({"otp": "000000", "attempt": attempt});
            let a = app
                .post_json_with(client, &format!("/auth/login/{}/", user.id), &wrong)
                .await;
            assert_eq!(a.status, 401, "{:?}", a.body);
        }
    }
}

/// At the next time step, `user` signs in with the app's code, which must succeed: the new
/// login's access token.
async fn app_sign_in(app: &TestApp, user: &TestUser, uri: &str) -> String {
    next_step(app);
    let a = sign_in_with(app, user, &code_now(app, uri)).await;
    assert_eq!(a.status, 200, "a sign-in with the app: {:?}", a.body);
    a.body["tokens"]["access"].as_str().unwrap().to_string()
}

fn subjects_contain(messages: &[shared::notify::Message], subject: &str) -> bool {
    messages.iter().any(|m| m.subject == subject)
}

async fn an_app_turns_on_with_a_first_code_and_then_signs_in(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let a = enrol(&app, &user, &access).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let data = &a.body["data"];
    let uri = data["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Fintract:"), "{uri}");
    assert!(uri.contains(data["secret"].as_str().unwrap()));
    assert!(data["qr_svg"].as_str().unwrap().contains("<svg"));
    // Not on until confirmed: sign-in by e-mail still works, by app not yet.
    let a = app.login(&user.email, &user.password, "Totp").await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let a = confirm(&app, &access, "000000").await;
    assert_eq!(a.status, 400, "a wrong first code: {:?}", a.body);
    let a = confirm(&app, &access, &code_now(&app, uri)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let codes = a.body["data"]["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let told = app.messages_to(&user.email).await;
    assert!(subjects_contain(
        &told,
        "An authenticator app now protects your Fintract account"
    ));
    // Every session ended with it: one earned with an e-mail code does not outlive the app.
    let a = app.profile_answer(user.id, &access).await;
    assert_eq!(a.status, 401, "{:?}", a.body);
    let access = app_sign_in(&app, &user, uri).await;
    assert_eq!(
        acceptance::peek_claims(&access)["amr"],
        json!(["pwd", "otp"])
    );
    // A second enrolment is refused while one is on.
    assert_eq!(enrol(&app, &user, &access).await.status, 409);
}

async fn a_stolen_access_token_cannot_turn_an_app_on(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let a = app
        .call("POST", "/auth/authenticator/", None, Some(&access))
        .await;
    assert_eq!(a.status, 400, "no password: {:?}", a.body);
    assert!(
        a.body["fields"]["current_password"].is_string(),
        "{:?}",
        a.body
    );
    let thief = TestUser {
        password: "a guess at it 1234".into(),
        ..user.clone()
    };
    let a = enrol(&app, &thief, &access).await;
    assert_eq!(a.status, 400, "a wrong password: {:?}", a.body);
    let stored = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert!(stored.authenticator_pending.is_none() && stored.authenticator.is_none());
    // The owner signs in by e-mail as ever.
    app.sign_in(&user).await;
}

async fn a_code_from_the_app_works_once(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (uri, _) = turn_on(&app, &user, &access).await;
    // The code that turned the app on cannot sign in within its window.
    let used = code_now(&app, &uri);
    let a = sign_in_with(&app, &user, &used).await;
    assert_eq!(a.status, 401, "the enrolment's code replayed: {:?}", a.body);
    next_step(&app);
    let code = code_now(&app, &uri);
    assert_eq!(sign_in_with(&app, &user, &code).await.status, 200);
    let a = sign_in_with(&app, &user, &code).await;
    assert_eq!(a.status, 401, "a sign-in code replayed: {:?}", a.body);
    // Nor does the previous step's code, still within the skew.
    let earlier = app_code(&uri, app.ctx.now() - 30);
    assert_eq!(sign_in_with(&app, &user, &earlier).await.status, 401);
    // A wrong code is refused, and spends one of the attempt's tries.
    assert_eq!(sign_in_with(&app, &user, "123456").await.status, 401);
}

async fn no_downgrade_to_an_e_mail_or_sms_code(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    app.confirm_phone(&user, &access).await;
    // A code mailed before the app was turned on...
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let mailed = app.code_sent_to(&user.email).await;
    let (uri, _) = turn_on(&app, &user, &access).await;
    // ...signs nothing in after.
    let a = app.verify_otp(user.id, &mailed).await;
    assert_eq!(a.status, 401, "an older mailed code: {:?}", a.body);
    let mails = app.messages_to(&user.email).await.len();
    let texts = app.messages_to(&user.phone).await.len();
    for channel in ["Email", "Phone", "SMS"] {
        let a = app.login(&user.email, &user.password, channel).await;
        assert_eq!(a.status, 400, "{channel}: {:?}", a.body);
        assert!(a.error().contains("otpType Totp"), "{}", a.error());
    }
    assert_eq!(
        app.messages_to(&user.email).await.len(),
        mails,
        "nothing mailed"
    );
    assert_eq!(
        app.messages_to(&user.phone).await.len(),
        texts,
        "nothing texted"
    );
    app_sign_in(&app, &user, &uri).await;
}

async fn a_recovery_code_signs_in_once(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (_, codes) = turn_on(&app, &user, &access).await;
    // Typed in capitals, without the dash: still the code.
    let typed = codes[0].to_uppercase().replace('-', "");
    let a = sign_in_with(&app, &user, &typed).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let last = app.messages_to(&user.email).await;
    let notice = last
        .iter()
        .rev()
        .find(|m| m.subject == "A recovery code was used on your Fintract account")
        .expect("a notice of the recovery code");
    assert!(notice.body.contains("9 unused"), "{}", notice.body);
    let a = sign_in_with(&app, &user, &codes[0]).await;
    assert_eq!(a.status, 401, "a recovery code used twice: {:?}", a.body);
    // Another account's recovery code is nothing here.
    let other = app.new_user("CUSTOMER").await;
    let other_access = app.access_of(&other).await;
    let (_, other_codes) = turn_on(&app, &other, &other_access).await;
    assert_eq!(sign_in_with(&app, &user, &other_codes[0]).await.status, 401);
    assert_eq!(sign_in_with(&app, &user, &codes[1]).await.status, 200);
}

async fn a_stolen_access_token_cannot_remove_the_app(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (uri, _) = turn_on(&app, &user, &access).await;
    // A code-earned token of a login of its own, as a thief would hold.
    let access = app_sign_in(&app, &user, &uri).await;
    let a = remove(&app, &access, None).await;
    assert_eq!(a.status, 400, "no code: {:?}", a.body);
    assert!(a.body["fields"]["code"].is_string(), "{:?}", a.body);
    let a = remove(&app, &access, Some("000000")).await;
    assert_eq!(a.status, 400, "a wrong code: {:?}", a.body);
    // The code that signed this login in was spent.
    let a = remove(&app, &access, Some(&code_now(&app, &uri))).await;
    assert_eq!(a.status, 400, "a spent code: {:?}", a.body);
    // Wrong codes are budgeted per login: ten in a window, two of them spent above.
    for _ in 0..8 {
        assert_eq!(remove(&app, &access, Some("000000")).await.status, 400);
    }
    let a = remove(&app, &access, Some(&code_now(&app, &uri))).await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    let stored = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert!(stored.authenticator.is_some(), "still on");
    // With a current code, from a login of its own, it goes; e-mail codes work again.
    let fresh = app_sign_in(&app, &user, &uri).await;
    next_step(&app);
    let a = remove(&app, &fresh, Some(&code_now(&app, &uri))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let told = app.messages_to(&user.email).await;
    assert!(subjects_contain(
        &told,
        "The authenticator app was removed from your Fintract account"
    ));
    app.sign_in(&user).await;
}

async fn a_lost_app_is_replaced_with_recovery_codes(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (_, codes) = turn_on(&app, &user, &access).await;
    let a = sign_in_with(&app, &user, &codes[3]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let access = a.body["tokens"]["access"].as_str().unwrap().to_string();
    let a = remove(&app, &access, Some(&codes[3])).await;
    assert_eq!(a.status, 400, "the code just spent: {:?}", a.body);
    let a = remove(&app, &access, Some(&codes[4])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let (uri, _) = turn_on(&app, &user, &access).await;
    app_sign_in(&app, &user, &uri).await;
    // The old recovery codes went with the old app.
    assert_eq!(sign_in_with(&app, &user, &codes[5]).await.status, 401);
}

async fn an_enrolment_takes_five_tries_and_ten_minutes(app: TestApp) {
    let user = app.new_user("DEVELOPER").await;
    let access = app.access_of(&user).await;
    let a = enrol(&app, &user, &access).await;
    let uri = a.body["data"]["otpauth_uri"].as_str().unwrap().to_string();
    for _ in 0..5 {
        assert_eq!(confirm(&app, &access, "000000").await.status, 400);
    }
    let a = confirm(&app, &access, &code_now(&app, &uri)).await;
    assert_eq!(a.status, 400, "past five tries: {:?}", a.body);
    let a = enrol(&app, &user, &access).await;
    let uri = a.body["data"]["otpauth_uri"].as_str().unwrap().to_string();
    app.ctx.config.clock.advance(601);
    let access = app.access_of(&user).await;
    let a = confirm(&app, &access, &code_now(&app, &uri)).await;
    assert_eq!(a.status, 400, "expired: {:?}", a.body);
    // A password-only token enrols nothing.
    let dfcu = app.token(&user.username, &user.password).await;
    let dfcu = dfcu.body["access"].as_str().unwrap().to_string();
    assert_eq!(enrol(&app, &user, &dfcu).await.status, 403);
}

async fn the_secret_and_recovery_codes_are_not_stored_in_clear(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let a = enrol(&app, &user, &access).await;
    let secret = a.body["data"]["secret"].as_str().unwrap().to_string();
    let uri = a.body["data"]["otpauth_uri"].as_str().unwrap().to_string();
    let a = confirm(&app, &access, &code_now(&app, &uri)).await;
    let codes: Vec<Value> = a.body["data"]["recovery_codes"].as_array().unwrap().clone();
    let stored = app.ctx.store.user(user.id).await.unwrap().unwrap();
    let record = serde_json::to_string(&stored).unwrap();
    assert!(!record.contains(&secret), "the secret in clear");
    for c in &codes {
        let c = c.as_str().unwrap();
        assert!(!record.contains(c) && !record.contains(&c.replace('-', "")));
    }
    // Nor does any answer about the user carry it.
    let access = app_sign_in(&app, &user, &uri).await;
    let profile = app.profile(user.id, &access).await.to_string();
    assert!(!profile.contains("authenticator") && !profile.contains(&secret));
    // Without an app, otpType Totp is a 400 that sends nothing.
    let other = app.new_user("CUSTOMER").await;
    let a = app.login(&other.email, &other.password, "Totp").await;
    assert_eq!(a.status, 400, "{:?}", a.body);
}

async fn app_codes_are_budgeted_per_account_and_need_the_attempts_handle(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (uri, _) = turn_on(&app, &user, &access).await;
    next_step(&app);
    // Without the attempt's handle (which only the password's holder has), nothing is tried.
    let a = app.login(&user.email, &user.password, "Totp").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = app.verify_otp(user.id, &code_now(&app, &uri)).await;
    assert_eq!(a.status, 401, "no handle: {:?}", a.body);
    // Wrong codes count across attempts: ten per account in a window, then 429 for a right one.
    wrong_app_codes(&app, &app.client, &user).await;
    let a = sign_in_with(&app, &user, &code_now(&app, &uri)).await;
    assert_eq!(a.status, 429, "past the budget: {:?}", a.body);
    app.start_of_window(900);
    app_sign_in(&app, &user, &uri).await;
}

/// Recovery codes are replaced without turning the app off, with a current code from the app
/// (spent, so never one already used): the ten new ones work, the old ones no longer do, and the
/// address is told. A recovery code is no way to get more of them.
async fn recovery_codes_are_replaced_with_a_current_code_from_the_app(app: TestApp) {
    const PATH: &str = "/auth/authenticator/recovery-codes/";
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (uri, old) = turn_on(&app, &user, &access).await;
    let access = app_sign_in(&app, &user, &uri).await;
    for (body, what) in [
        (json!({}), "no code"),
        (json!({ "code": old[0] }), "a recovery code"),
        (
            json!({ "code": code_now(&app, &uri) }),
            "the code the sign-in spent",
        ),
    ] {
        let a = app.call("POST", PATH, Some(&body), Some(&access)).await;
        assert_eq!(a.status, 400, "{what}: {:?}", a.body);
        assert!(a.body["fields"]["code"].is_string(), "{what}: {:?}", a.body);
    }
    next_step(&app);
    let body = json!({ "code": code_now(&app, &uri) });
    let a = app.call("POST", PATH, Some(&body), Some(&access)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let new: Vec<String> = a.body["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let a = app.call("POST", PATH, Some(&body), Some(&access)).await;
    assert_eq!(a.status, 400, "the same code again: {:?}", a.body);
    let told = app.messages_to(&user.email).await.pop().unwrap();
    assert_eq!(told.subject, "New recovery codes for your Fintract account");
    assert!(told.body.contains("If this was not you"), "{}", told.body);
    let a = sign_in_with(&app, &user, &old[1]).await;
    assert_eq!(a.status, 401, "an old code: {:?}", a.body);
    let a = sign_in_with(&app, &user, &new[0]).await;
    assert_eq!(a.status, 200, "a new code: {:?}", a.body);
}

/// Someone who has the password but no device that signed in with the app spends the account's
/// budget of app codes; a device that did sign in with the app keeps a budget of its own, so the
/// owner is not held back (as a known device is not for passwords).
async fn a_stranger_with_the_password_cannot_lock_an_app_device_out(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let (uri, _) = turn_on(&app, &user, &access).await;
    next_step(&app);
    let a = sign_in_with(&app, &user, &code_now(&app, &uri)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let device = a.body["device"].as_str().unwrap().to_string();
    let stranger = app.source(2);
    wrong_app_codes(&app, &stranger, &user).await;
    next_step(&app);
    let a = sign_in_from(&app, &stranger, &user, &code_now(&app, &uri), None).await;
    assert_eq!(a.status, 429, "the account's budget is spent: {:?}", a.body);
    let a = sign_in_from(
        &app,
        &app.client,
        &user,
        &code_now(&app, &uri),
        Some(&device),
    )
    .await;
    assert_eq!(a.status, 200, "the owner's app device: {:?}", a.body);
    // A device token from a sign-in without the app (the password alone, on /token/) earns no
    // budget of its own: whoever knows the password could make as many as they like.
    let minted = app
        .post_json_with(
            &stranger,
            "/token/",
            &json!({"username": user.username, "password": user.password}),
        )
        .await;
    assert_eq!(minted.status, 200, "{:?}", minted.body);
    let minted = minted.body["device"].as_str().unwrap().to_string();
    next_step(&app);
    let a = sign_in_from(&app, &stranger, &user, &code_now(&app, &uri), Some(&minted)).await;
    assert_eq!(a.status, 429, "a password-only device: {:?}", a.body);
}

async fn an_admin_removes_the_app_of_a_user_they_may_deactivate(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    turn_on(&app, &user, &access).await;
    let stranger = app.new_user("CUSTOMER").await;
    let theirs = app.access_of(&stranger).await;
    let body = json!({ "user_id": user.id });
    let a = app
        .call("DELETE", "/auth/authenticator/", Some(&body), Some(&theirs))
        .await;
    assert_eq!(a.status, 404, "another customer: {:?}", a.body);
    // A stolen admin token strips nobody's second factor: the admin's own password is asked.
    let admin = app.code_token(&acceptance::demo::ADMIN).await;
    for (password, what) in [(None, "no password"), (Some("a guess"), "a wrong one")] {
        let mut body = body.clone();
        if let Some(p) = password {
            body["current_password"] = json!(p);
        }
        let a = app
            .call("DELETE", "/auth/authenticator/", Some(&body), Some(&admin))
            .await;
        assert_eq!(a.status, 400, "{what}: {:?}", a.body);
        assert!(
            a.body["fields"]["current_password"].is_string(),
            "{what}: {:?}",
            a.body
        );
    }
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 400, "the app is still on: {:?}", a.body);
    let body = json!({ "user_id": user.id, "current_password": acceptance::demo::ADMIN.password });
    let a = app
        .call("DELETE", "/auth/authenticator/", Some(&body), Some(&admin))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let last = app.messages_to(&user.email).await.pop().unwrap();
    assert_eq!(
        last.subject,
        "The authenticator app was removed from your Fintract account"
    );
    assert!(last.body.contains("by an administrator"), "{}", last.body);
    app.sign_in(&user).await;
}

on_both_backends!(
    a_stolen_access_token_cannot_turn_an_app_on,
    app_codes_are_budgeted_per_account_and_need_the_attempts_handle,
    an_admin_removes_the_app_of_a_user_they_may_deactivate,
    a_stranger_with_the_password_cannot_lock_an_app_device_out,
    recovery_codes_are_replaced_with_a_current_code_from_the_app,
    an_app_turns_on_with_a_first_code_and_then_signs_in,
    a_code_from_the_app_works_once,
    no_downgrade_to_an_e_mail_or_sms_code,
    a_recovery_code_signs_in_once,
    a_stolen_access_token_cannot_remove_the_app,
    a_lost_app_is_replaced_with_recovery_codes,
    an_enrolment_takes_five_tries_and_ten_minutes,
    the_secret_and_recovery_codes_are_not_stored_in_clear,
);
