//! The channels sign-in codes go to (ARCHITECTURE.md §6): a phone number receives them only once
//! confirmed with a code sent to it, and neither it nor the e-mail address can be changed with an
//! access token alone: `PATCH` needs the current password, and the current address is told.

use acceptance::{demo, on_both_backends, Answer, TestApp, TestUser};
use serde_json::{json, Value};

fn update_path(id: u64) -> String {
    format!("/auth/update/usr/{id}/")
}

async fn patch(app: &TestApp, id: u64, body: Value, token: &str) -> Answer {
    app.call("PATCH", &update_path(id), Some(&body), Some(token))
        .await
}

async fn profile(app: &TestApp, user: &TestUser, token: &str) -> Value {
    app.profile(user.id, token).await
}

/// `POST /auth/phone/confirm/` with `code`, as the holder of `access`.
async fn confirm(app: &TestApp, access: &str, code: &str) -> Answer {
    app.call(
        "POST",
        "/auth/phone/confirm/",
        Some(&json!({ "code": code })),
        Some(access),
    )
    .await
}

fn fresh_phone() -> String {
    acceptance::unique_phone()
}

async fn an_unconfirmed_number_gets_no_sign_in_code(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let a = app.login(&user.email, &user.password, "Phone").await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.error().contains("must be confirmed first"),
        "{}",
        a.error()
    );
    assert!(
        app.messages_to(&user.phone).await.is_empty(),
        "no text sent"
    );
    let access = app.access_of(&user).await;
    assert_eq!(profile(&app, &user, &access).await["phone_verified"], false);
}

async fn a_confirmed_number_gets_codes_until_it_is_changed(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    app.confirm_phone(&user, &access).await;
    assert_eq!(profile(&app, &user, &access).await["phone_verified"], true);
    let a = app.login(&user.email, &user.password, "Phone").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let code = app.code_sent_to(&user.phone).await;
    assert_eq!(app.verify_otp(user.id, &code).await.status, 200);

    let new_phone = fresh_phone();
    let a = patch(
        &app,
        user.id,
        json!({"phone": new_phone, "current_password": user.password}),
        &access,
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let p = profile(&app, &user, &access).await;
    assert_eq!(
        (p["phone"].as_str(), &p["phone_verified"]),
        (Some(new_phone.as_str()), &json!(false))
    );
    let a = app.login(&user.email, &user.password, "Phone").await;
    assert_eq!(a.status, 400, "the new number is unconfirmed: {:?}", a.body);
    assert!(app.messages_to(&new_phone).await.is_empty());
}

async fn a_code_confirms_only_the_number_it_was_sent_to(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let a = app.call("POST", "/auth/phone/", None, Some(&access)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let code = app.code_sent_to(&user.phone).await;
    let a = patch(
        &app,
        user.id,
        json!({"phone": fresh_phone(), "current_password": user.password}),
        &access,
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = confirm(&app, &access, &code).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert_eq!(a.body["fields"]["code"], "Invalid or expired code.");
    assert_eq!(profile(&app, &user, &access).await["phone_verified"], false);
}

async fn five_wrong_confirmation_codes_burn_it(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    assert_eq!(
        app.call("POST", "/auth/phone/", None, Some(&access))
            .await
            .status,
        200
    );
    let code = app.code_sent_to(&user.phone).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(confirm(&app, &access, wrong).await.status, 400);
    }
    assert_eq!(
        confirm(&app, &access, &code).await.status,
        400,
        "burned after five"
    );
    assert_eq!(profile(&app, &user, &access).await["phone_verified"], false);
}

async fn a_stolen_access_token_cannot_redirect_the_codes(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    app.start_of_window(900);
    let stolen = app.access_of(&user).await;
    let attacker_phone = fresh_phone();
    let attacker_mail = format!("{}@example.net", acceptance::unique("thief"));
    let before = app.ctx.store.user(user.id).await.unwrap().unwrap();
    for body in [
        json!({"phone": attacker_phone}),
        json!({"email": attacker_mail}),
        json!({"phone": attacker_phone, "email": attacker_mail, "current_password": ""}),
    ] {
        let a = patch(&app, user.id, body.clone(), &stolen).await;
        assert_eq!(a.status, 400, "{body}: {:?}", a.body);
        assert!(
            a.body["fields"]["current_password"]
                .as_str()
                .is_some_and(|m| m.contains("current password is needed")),
            "{:?}",
            a.body
        );
    }
    for n in 0..10 {
        let body = json!({"phone": attacker_phone, "current_password": format!("guess {n}")});
        let a = patch(&app, user.id, body, &stolen).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert_eq!(
            a.body["fields"]["current_password"],
            "This is not your current password."
        );
    }
    let body = json!({"phone": attacker_phone, "current_password": "guess 11"});
    let a = patch(&app, user.id, body, &stolen).await;
    assert_eq!(
        a.status, 429,
        "guessing spends the account's budget: {:?}",
        a.body
    );
    let after = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert_eq!(after, before, "nothing changed");
    // The guesses spent the stolen login's budget, not the account's: its owner still signs in.
    let a = app.token(&user.username, &user.password).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(app.messages_to(&attacker_mail).await.is_empty());
    assert!(app.messages_to(&attacker_phone).await.is_empty());
}

async fn a_change_of_address_or_number_is_told_to_the_current_address(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let mails = app.messages_to(&user.email).await.len();
    let new_mail = format!("{}@example.org", acceptance::unique("moving"));
    let new_phone = fresh_phone();
    let a = patch(
        &app,
        user.id,
        json!({"email": new_mail, "phone": new_phone, "current_password": user.password}),
        &access,
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let to_old = app.messages_to(&user.email).await;
    assert_eq!(to_old.len(), mails + 1, "one notice to the current address");
    let notice = &to_old[mails];
    assert_eq!(notice.subject, "Your Fintract account details are changing");
    assert!(notice.body.contains(&new_mail), "{}", notice.body);
    let tail = &new_phone[new_phone.len() - 3..];
    assert!(
        notice.body.contains(&format!("ending in {tail}")),
        "{}",
        notice.body
    );
    assert!(
        notice.body.contains("If this was not you"),
        "{}",
        notice.body
    );
    assert!(
        notice.body.contains("127.0.0.1"),
        "the source: {}",
        notice.body
    );
    assert_eq!(app.messages_to(&new_mail).await.len(), 1, "the link");
}

async fn a_change_that_changes_nothing_needs_no_password_and_sends_nothing(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    app.confirm_phone(&user, &access).await;
    let (mails, texts) = (
        app.messages_to(&user.email).await.len(),
        app.messages_to(&user.phone).await.len(),
    );
    for body in [
        json!({"phone": user.phone}),
        json!({"email": user.email}),
        json!({"email": user.email.to_uppercase(), "phone": user.phone, "country": "UG"}),
    ] {
        let a = patch(&app, user.id, body.clone(), &access).await;
        assert_eq!(a.status, 200, "{body}: {:?}", a.body);
    }
    assert_eq!(app.messages_to(&user.email).await.len(), mails);
    assert_eq!(app.messages_to(&user.phone).await.len(), texts);
    assert_eq!(
        profile(&app, &user, &access).await["phone_verified"],
        true,
        "the same number stays confirmed"
    );
}

async fn an_admin_changing_a_number_gives_the_admins_own_password(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let admin = app.code_token(&demo::ADMIN).await;
    let new_phone = fresh_phone();
    for password in [None, Some(user.password.as_str())] {
        let mut body = json!({"phone": new_phone});
        if let Some(p) = password {
            body["current_password"] = json!(p);
        }
        let a = patch(&app, user.id, body, &admin).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(a.body["fields"]["current_password"].is_string());
    }
    let a = patch(
        &app,
        user.id,
        json!({"phone": new_phone, "current_password": demo::ADMIN.password}),
        &admin,
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let stored = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.phone.as_str(), stored.phone_verified),
        (new_phone.as_str(), false)
    );
}

async fn confirmation_texts_are_budgeted_per_account(app: TestApp) {
    app.start_of_window(3600);
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    for _ in 0..3 {
        let a = app.call("POST", "/auth/phone/", None, Some(&access)).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = app.call("POST", "/auth/phone/", None, Some(&access)).await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    assert_eq!(app.messages_to(&user.phone).await.len(), 3);
    // A confirmed number is sent nothing more.
    let code = app.code_sent_to(&user.phone).await;
    let a = confirm(&app, &access, &code).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    app.ctx.config.clock.advance(3600);
    let access = app.access_of(&user).await;
    let a = app.call("POST", "/auth/phone/", None, Some(&access)).await;
    assert_eq!(
        (a.status, &a.body["phone_verified"]),
        (200, &json!(true)),
        "{:?}",
        a.body
    );
    assert_eq!(app.messages_to(&user.phone).await.len(), 3);
}

on_both_backends!(
    an_unconfirmed_number_gets_no_sign_in_code,
    a_confirmed_number_gets_codes_until_it_is_changed,
    a_code_confirms_only_the_number_it_was_sent_to,
    five_wrong_confirmation_codes_burn_it,
    a_stolen_access_token_cannot_redirect_the_codes,
    a_change_of_address_or_number_is_told_to_the_current_address,
    a_change_that_changes_nothing_needs_no_password_and_sends_nothing,
    an_admin_changing_a_number_gives_the_admins_own_password,
    confirmation_texts_are_budgeted_per_account,
);
