//! Password recovery and change, and the security mail about them (ARCHITECTURE.md §6): a reset
//! link works once, expires, dies with a password change, and never says whether an address has
//! an account; a password change needs the current password, whatever token the caller holds,
//! and ends every other session; each is told to the account's address.

use acceptance::{on_both_backends, Answer, TestApp, TestUser};
use serde_json::json;

const NEW_PASSWORD: &str = "Entebbe harbour kite 17";

async fn ask_reset(app: &TestApp, email: &str) -> Answer {
    app.post_json("/auth/password-reset/", &json!({ "email": email }), None)
        .await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> Answer {
    app.post_json(
        "/auth/password-reset/confirm/",
        &json!({"token": token, "password": password, "password2": password}),
        None,
    )
    .await
}

async fn change_password(app: &TestApp, access: &str, current: Option<&str>, new: &str) -> Answer {
    let mut body = json!({"password": new, "password2": new});
    if let Some(c) = current {
        body["current_password"] = json!(c);
    }
    app.call("PUT", "/auth/change-password/", Some(&body), Some(access))
        .await
}

/// The token of the reset link in the last mail to `email`.
async fn reset_token(app: &TestApp, email: &str) -> String {
    let body = app.last_message_to(email).await;
    let start = body
        .find("token=")
        .unwrap_or_else(|| panic!("no reset link in {body:?}"));
    body[start + "token=".len()..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The subjects of every mail to `email`, oldest first.
async fn subjects(app: &TestApp, email: &str) -> Vec<String> {
    app.messages_to(email)
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect()
}

fn with_password(user: &TestUser, password: &str) -> TestUser {
    TestUser {
        password: password.to_string(),
        ..user.clone()
    }
}

async fn a_forgotten_password_is_reset_once_through_the_mailed_link(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (access, refresh) = app.session(&user).await;
    let a = ask_reset(&app, &user.email).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let mail = app.messages_to(&user.email).await.pop().unwrap();
    assert_eq!(mail.subject, "Reset your Fintract password");
    assert!(
        mail.body.contains(&format!(
            "{}/auth/password-reset/confirm/?token={}.",
            app.ctx.config.public_base_url.as_deref().unwrap(),
            user.id
        )),
        "{}",
        mail.body
    );
    let token = reset_token(&app, &user.email).await;
    let a = confirm_reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // Every session ended: access and refresh tokens alike.
    let a = app.profile_answer(user.id, &access).await;
    assert_eq!(a.status, 401, "{:?}", a.body);
    assert_eq!(app.refresh(&refresh).await.status, 401);
    // The old password is gone, the new one signs in, and the address was told.
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 401, "{:?}", a.body);
    app.sign_in(&with_password(&user, NEW_PASSWORD)).await;
    assert!(subjects(&app, &user.email)
        .await
        .contains(&"Your Fintract password was reset".to_string()));
    // The link worked once.
    let a = confirm_reset(&app, &token, "Another river lantern 99").await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["fields"]["token"].is_string(), "{:?}", a.body);
}

async fn a_reset_answers_alike_whether_or_not_the_address_has_an_account(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let unverified = app.registration("CUSTOMER");
    assert_eq!(app.register(&unverified, None).await.status, 201);
    let unverified_mail = unverified["email"].as_str().unwrap();
    let nobody = format!("{}@example.com", acceptance::unique("nobody"));
    let known = ask_reset(&app, &user.email).await;
    let unknown = ask_reset(&app, &nobody).await;
    let pending = ask_reset(&app, unverified_mail).await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.body, pending.body);
    assert!(app.messages_to(&nobody).await.is_empty());
    // An address not yet verified gets only its verification link, never a reset link.
    assert!(!subjects(&app, unverified_mail)
        .await
        .contains(&"Reset your Fintract password".to_string()));
    // The budget per address is spent whether or not an account has it: 429 alike.
    app.start_of_window(3600);
    for _ in 0..3 {
        assert_eq!(ask_reset(&app, &user.email).await.status, 200);
        assert_eq!(ask_reset(&app, &nobody).await.status, 200);
    }
    let known = ask_reset(&app, &user.email).await;
    let unknown = ask_reset(&app, &nobody).await;
    assert_eq!(known.status, 429, "{:?}", known.body);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert!(known.headers.contains_key("retry-after"));
}

/// Mailing a link takes a store write and a send that an unknown address never costs; every
/// answer waits for the same floor (`PASSWORD_RESET_MIN_ANSWER_MS`), so the time taken says
/// nothing either.
async fn a_reset_takes_as_long_whether_or_not_the_address_has_an_account(app: TestApp) {
    let floor = app.ctx.config.password_reset_min_answer;
    assert!(floor >= std::time::Duration::from_millis(100), "{floor:?}");
    let user = app.new_user("CUSTOMER").await;
    let nobody = format!("{}@example.com", acceptance::unique("nobody"));
    for email in [&user.email, &nobody] {
        let started = std::time::Instant::now();
        let a = ask_reset(&app, email).await;
        let took = started.elapsed();
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert!(
            took >= floor,
            "{email}: answered in {took:?}, before the {floor:?} floor"
        );
    }
}

async fn a_reset_link_expires_and_dies_with_a_password_change(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let expired = reset_token(&app, &user.email).await;
    app.ctx.config.clock.advance(3601);
    let a = confirm_reset(&app, &expired, NEW_PASSWORD).await;
    assert_eq!(a.status, 400, "expired: {:?}", a.body);
    // Two links out; the first used makes the second worthless.
    app.start_of_window(3600);
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let first = reset_token(&app, &user.email).await;
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let second = reset_token(&app, &user.email).await;
    assert_ne!(first, second);
    assert_eq!(confirm_reset(&app, &second, NEW_PASSWORD).await.status, 200);
    let a = confirm_reset(&app, &first, "Another river lantern 99").await;
    assert_eq!(a.status, 400, "an older link after a reset: {:?}", a.body);
    // A link asked for before a password change is worthless after it.
    let user = with_password(&user, NEW_PASSWORD);
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let before_change = reset_token(&app, &user.email).await;
    let access = app.access_of(&user).await;
    let a = change_password(&app, &access, Some(NEW_PASSWORD), "Jinja falls copper 63").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = confirm_reset(&app, &before_change, "Another river lantern 99").await;
    assert_eq!(a.status, 400, "a link from before a change: {:?}", a.body);
    app.sign_in(&with_password(&user, "Jinja falls copper 63"))
        .await;
}

async fn a_reset_token_is_no_other_link_and_no_other_token_resets(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let other = app.new_user("CUSTOMER").await;
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let token = reset_token(&app, &user.email).await;
    let (id, secret) = token.split_once('.').unwrap();
    assert_eq!(id, user.id.to_string());
    // Not an e-mail verification link.
    let a = app
        .send(
            app.client
                .get(app.url(&format!("/auth/verify-email/?token={token}"))),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let a = app
        .send(
            app.client
                .get(app.url(&format!("/auth/verify-email/?token={secret}"))),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    // Not another account's, nor a verification link's token, nor a forged one.
    // A bad token with a guessable password is refused for the token: nothing of the account
    // is judged before the link is.
    let a = confirm_reset(
        &app,
        &format!("{}.{}", other.id, "0".repeat(64)),
        "password123",
    )
    .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["fields"]["token"].is_string(), "{:?}", a.body);
    assert!(a.body["fields"].get("password").is_none(), "{:?}", a.body);
    for forged in [
        format!("{}.{secret}", other.id),
        format!("0{}.{secret}", user.id),
        format!("{}.{}", user.id, "0".repeat(64)),
        secret.to_string(),
        String::new(),
    ] {
        let a = confirm_reset(&app, &forged, NEW_PASSWORD).await;
        assert_eq!(a.status, 400, "{forged}: {:?}", a.body);
    }
    let fresh = app.registration("CUSTOMER");
    assert_eq!(app.register(&fresh, None).await.status, 201);
    let email = fresh["email"].as_str().unwrap();
    let link = app.link_sent_to(email).await;
    let verify_token = link.rsplit('=').next().unwrap();
    let a = confirm_reset(&app, &format!("{}.{verify_token}", user.id), NEW_PASSWORD).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    // The genuine token still works after all that.
    assert_eq!(confirm_reset(&app, &token, NEW_PASSWORD).await.status, 200);
    app.sign_in(&other).await;
}

async fn a_weak_new_password_is_refused_and_leaves_the_link_usable(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let token = reset_token(&app, &user.email).await;
    for weak in ["password123", user.username.as_str(), "short"] {
        let a = confirm_reset(&app, &token, weak).await;
        assert_eq!(a.status, 400, "{weak}: {:?}", a.body);
        assert!(a.body["fields"]["password"].is_string(), "{:?}", a.body);
    }
    let a = app
        .post_json(
            "/auth/password-reset/confirm/",
            &json!({"token": token, "password": NEW_PASSWORD, "password2": "something else 1"}),
            None,
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert_eq!(confirm_reset(&app, &token, NEW_PASSWORD).await.status, 200);
}

async fn a_stolen_access_token_cannot_change_the_password(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let a = change_password(&app, &access, None, NEW_PASSWORD).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.body["fields"]["current_password"].is_string(),
        "{:?}",
        a.body
    );
    let a = change_password(&app, &access, Some("a guess at it 1234"), NEW_PASSWORD).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert_eq!(
        a.body["fields"]["current_password"],
        "This is not your current password."
    );
    // Guesses are budgeted per login: the eleventh in a window is a 429.
    app.start_of_window(900);
    let access = app.access_of(&user).await;
    for _ in 0..10 {
        let a = change_password(&app, &access, Some("a guess at it 1234"), NEW_PASSWORD).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
    }
    let a = change_password(&app, &access, Some(&user.password), NEW_PASSWORD).await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    // Nothing changed; the owner signs in as before, from another session.
    app.sign_in(&user).await;
    // A password-only (DFCU) token is not enough either.
    let dfcu = app.token(&user.username, &user.password).await;
    let dfcu = dfcu.body["access"].as_str().unwrap().to_string();
    let a = change_password(&app, &dfcu, Some(&user.password), NEW_PASSWORD).await;
    assert_eq!(a.status, 403, "{:?}", a.body);
}

async fn changing_the_password_ends_every_other_session(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (mine, _) = app.session(&user).await;
    let (other_access, other_refresh) = app.session(&user).await;
    let a = change_password(&app, &mine, Some(&user.password), &user.password).await;
    assert_eq!(a.status, 400, "the same password: {:?}", a.body);
    let a = change_password(&app, &mine, Some(&user.password), "password1").await;
    assert_eq!(a.status, 400, "a guessable one: {:?}", a.body);
    let mails = app.messages_to(&user.email).await.len();
    let a = change_password(&app, &mine, Some(&user.password), NEW_PASSWORD).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let fresh = a.body["tokens"]["access"].as_str().unwrap().to_string();
    let fresh_refresh = a.body["tokens"]["refresh"].as_str().unwrap().to_string();
    assert_eq!(
        acceptance::peek_claims(&fresh)["amr"],
        json!(["pwd", "otp"])
    );
    // The caller's login goes on, no longer than it would have: the same sign-in time.
    assert_eq!(
        acceptance::peek_claims(&fresh)["auth_time"],
        acceptance::peek_claims(&mine)["auth_time"]
    );
    for (token, who) in [(&mine, "the old token"), (&other_access, "another session")] {
        let a = app.profile_answer(user.id, token).await;
        assert_eq!(a.status, 401, "{who}: {:?}", a.body);
    }
    assert_eq!(app.refresh(&other_refresh).await.status, 401);
    app.profile(user.id, &fresh).await;
    assert_eq!(app.refresh(&fresh_refresh).await.status, 200);
    let told = app.messages_to(&user.email).await;
    assert_eq!(told.len(), mails + 1, "one notice");
    assert_eq!(told[mails].subject, "Your Fintract password was changed");
    assert!(
        told[mails].body.contains("If this was not you"),
        "{}",
        told[mails].body
    );
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 401);
    app.sign_in(&with_password(&user, NEW_PASSWORD)).await;
}

async fn a_sign_in_from_a_new_device_is_told_and_a_known_one_is_not(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let count = |subjects: Vec<String>| {
        subjects
            .iter()
            .filter(|s| *s == "New sign-in to your Fintract account")
            .count()
    };
    let before = count(subjects(&app, &user.email).await);
    let a = app.sign_in(&user).await;
    let device = a.body["device"].as_str().unwrap().to_string();
    assert_eq!(count(subjects(&app, &user.email).await), before + 1);
    let notice = app.messages_to(&user.email).await.pop().unwrap();
    assert!(notice.body.contains("127.0.0.1"), "{}", notice.body);
    assert!(
        notice.body.contains("If this was not you"),
        "{}",
        notice.body
    );
    // The same device again: nothing new to tell.
    let a = app
        .post_json(
            "/auth/login/",
            &json!({"email": user.email, "password": user.password, "otpType": "Email", "device": device}),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let code = app.code_sent_to(&user.email).await;
    let a = app
        .post_json(
            &format!("/auth/login/{}/", user.id),
            &json!({"otp": code, "device": device}),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(count(subjects(&app, &user.email).await), before + 1);
    // The DFCU password grant tells too, from a source not told of today; a client that keeps
    // no device token is not mailed on every call from the same address.
    let credentials = json!({"username": user.username, "password": user.password});
    let elsewhere = app.source(2);
    let a = app
        .post_json_with(&elsewhere, "/token/", &credentials)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(count(subjects(&app, &user.email).await), before + 2);
    let notice = app.messages_to(&user.email).await.pop().unwrap();
    assert!(notice.body.contains("127.0.0.2"), "{}", notice.body);
    let a = app
        .post_json_with(&elsewhere, "/token/", &credentials)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(count(subjects(&app, &user.email).await), before + 2);
    // Another program behind the same address (an office's or a carrier's NAT) is told of.
    let another_app = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .user_agent("another-app/1")
        .build()
        .unwrap();
    let a = app
        .post_json_with(&another_app, "/token/", &credentials)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(count(subjects(&app, &user.email).await), before + 3);
    let notice = app.messages_to(&user.email).await.pop().unwrap();
    assert!(notice.body.contains("another-app/1"), "{}", notice.body);
}

async fn a_deactivation_is_told_to_the_address(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    let a = app
        .call("PUT", "/auth/account-deactivate/", None, Some(&access))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let last = app.messages_to(&user.email).await.pop().unwrap();
    assert_eq!(last.subject, "Your Fintract account was deactivated");
    assert!(
        last.body.contains("a signed-in session of yours"),
        "{}",
        last.body
    );
    // By an administrator, too.
    let other = app.new_user("CUSTOMER").await;
    let admin = app.code_token(&acceptance::demo::ADMIN).await;
    let a = app
        .call(
            "PATCH",
            &format!("/auth/update/usr/{}/", other.id),
            Some(&json!({"is_active": false})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let last = app.messages_to(&other.email).await.pop().unwrap();
    assert_eq!(last.subject, "Your Fintract account was deactivated");
    assert!(last.body.contains("by an administrator"), "{}", last.body);
}

async fn a_reset_drops_a_pending_change_of_address(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    // Whoever holds the password and a token starts moving the account to their address...
    let theirs = format!("{}@example.org", acceptance::unique("thief"));
    let a = app
        .call(
            "PATCH",
            &format!("/auth/update/usr/{}/", user.id),
            Some(&json!({"email": theirs, "current_password": user.password})),
            Some(&access),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let link = app.link_sent_to(&theirs).await;
    // ...the owner, told, resets the password...
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let token = reset_token(&app, &user.email).await;
    assert_eq!(confirm_reset(&app, &token, NEW_PASSWORD).await.status, 200);
    // ...and the pending link moves nothing.
    let a = app.send(app.client.get(app.url(&link))).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let stored = app.ctx.store.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.email, user.email);
    assert_eq!(stored.pending_email, None);
}

async fn the_default_link_opens_a_form_that_resets_once(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(ask_reset(&app, &user.email).await.status, 200);
    let body = app.last_message_to(&user.email).await;
    let start = body.find("/auth/password-reset/confirm/?token=").unwrap();
    let path = body[start..].split_whitespace().next().unwrap().to_string();
    let token = reset_token(&app, &user.email).await;
    let page = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("name=\"token\" value=\"{token}\"")),
        "{html}"
    );
    // Nothing was spent by showing the form: the form posts it as a browser would.
    let post = |password: &'static str| {
        app.client
            .post(app.url(&path))
            .header("accept", "text/html,application/xhtml+xml")
            .form(&[
                ("token", token.as_str()),
                ("password", password),
                ("password2", password),
            ])
            .send()
    };
    let weak = post("password123").await.unwrap();
    assert_eq!(weak.status(), 400);
    let html = weak.text().await.unwrap();
    assert!(html.contains("too easy to guess"), "{html}");
    let done = post(NEW_PASSWORD).await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done
        .text()
        .await
        .unwrap()
        .contains("Your password has been reset"));
    let again = post("Another river lantern 99").await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("invalid, used or expired"));
    app.sign_in(&with_password(&user, NEW_PASSWORD)).await;
    // A token in the page's address is written back escaped, never as markup.
    let page = app
        .client
        .get(app.url("/auth/password-reset/confirm/?token=%22%3E%3Cscript%3Ex%3C%2Fscript%3E"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
}

on_both_backends!(
    the_default_link_opens_a_form_that_resets_once,
    a_reset_drops_a_pending_change_of_address,
    a_forgotten_password_is_reset_once_through_the_mailed_link,
    a_reset_answers_alike_whether_or_not_the_address_has_an_account,
    a_reset_link_expires_and_dies_with_a_password_change,
    a_reset_token_is_no_other_link_and_no_other_token_resets,
    a_weak_new_password_is_refused_and_leaves_the_link_usable,
    a_stolen_access_token_cannot_change_the_password,
    changing_the_password_ends_every_other_session,
    a_sign_in_from_a_new_device_is_told_and_a_known_one_is_not,
    a_reset_takes_as_long_whether_or_not_the_address_has_an_account,
    a_deactivation_is_told_to_the_address,
);
