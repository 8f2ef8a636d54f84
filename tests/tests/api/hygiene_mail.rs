//! Mail and SMS cost the bank money and reputation: every path that sends one is budgeted per
//! account and per source address, past the budget the answer is 429 with `Retry-After` and
//! nothing is written, and a change that changes nothing sends nothing (ARCHITECTURE.md §6).

use acceptance::{on_both_backends, TestApp, TestUser};
use serde_json::{json, Value};

/// Verification mails per account, per recipient address and per source address in an hour
/// (`shared::verification`).
const PER_ACCOUNT: usize = 5;
const PER_RECIPIENT: usize = 5;
const PER_SOURCE: usize = 20;

fn update_path(id: u64) -> String {
    format!("/auth/update/usr/{id}/")
}

fn fresh_address(prefix: &str) -> String {
    format!("{}@example.org", acceptance::unique(prefix))
}

/// `user` (with `token`) asks to move their address to `email`, with their password.
async fn change_email(
    app: &TestApp,
    user: &TestUser,
    token: &str,
    email: &str,
) -> acceptance::Answer {
    change_email_as(app, user, token, &user.password, email).await
}

/// The holder of `token` (whose password is `password`) asks to move `user`'s address.
async fn change_email_as(
    app: &TestApp,
    user: &TestUser,
    token: &str,
    password: &str,
    email: &str,
) -> acceptance::Answer {
    app.call(
        "PATCH",
        &update_path(user.id),
        Some(&json!({ "email": email, "current_password": password })),
        Some(token),
    )
    .await
}

async fn pending_email(app: &TestApp, user: &TestUser, token: &str) -> Value {
    app.profile(user.id, token).await["pending_email"].clone()
}

fn assert_throttled(a: &acceptance::Answer) {
    assert_eq!(a.status, 429, "{:?}", a.body);
    let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
}

async fn the_same_new_email_eight_times_sends_one_mail(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    let new_email = fresh_address("moving");
    for _ in 0..8 {
        let a = change_email(&app, &user, &token, &new_email).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    assert_eq!(
        app.messages_to(&new_email).await.len(),
        1,
        "one link, not eight"
    );
    assert_eq!(pending_email(&app, &user, &token).await, new_email.as_str());
    // The first link is still the one that works.
    let link = app.link_sent_to(&new_email).await;
    assert_eq!(app.send(app.client.get(app.url(&link))).await.status, 200);

    // The current address is no change either: nothing is sent to it, however often.
    let other = app.new_user("CUSTOMER").await;
    let token = app.access_of(&other).await;
    let before = app.messages_to(&other.email).await.len();
    for spelling in [other.email.clone(), other.email.to_uppercase()] {
        let a = change_email(&app, &other, &token, &spelling).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    assert_eq!(app.messages_to(&other.email).await.len(), before);
    // Neither counts against the budget: all of it is left for real changes.
    for n in 0..PER_ACCOUNT {
        let a = change_email(&app, &other, &token, &fresh_address(&format!("real{n}"))).await;
        assert_eq!(a.status, 200, "change {n}: {:?}", a.body);
    }
}

async fn email_changes_past_the_account_budget_get_429_and_change_nothing(app: TestApp) {
    app.start_of_window(3600);
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    let mut last = String::new();
    for n in 0..PER_ACCOUNT {
        last = fresh_address(&format!("hop{n}"));
        let a = change_email(&app, &user, &token, &last).await;
        assert_eq!(a.status, 200, "change {n}: {:?}", a.body);
        assert_eq!(app.messages_to(&last).await.len(), 1);
    }
    let refused = fresh_address("onetoomany");
    let a = change_email(&app, &user, &token, &refused).await;
    assert_throttled(&a);
    assert!(
        app.messages_to(&refused).await.is_empty(),
        "no mail past the budget"
    );
    assert_eq!(
        pending_email(&app, &user, &token).await,
        last.as_str(),
        "nothing written past the budget"
    );
    // The other fields of a refused request are not written either.
    let a = app
        .call(
            "PATCH",
            &update_path(user.id),
            Some(&json!({"email": refused, "country": "KE", "current_password": user.password})),
            Some(&token),
        )
        .await;
    assert_throttled(&a);
    let info = app
        .call(
            "GET",
            &format!("/auth/info/{}/", user.id),
            None,
            Some(&token),
        )
        .await;
    assert_ne!(info.body["country"], "KE");
    // Changes that send no mail are not held back by it.
    let a = app
        .call(
            "PATCH",
            &update_path(user.id),
            Some(&json!({"country": "UG"})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // An admin changing the address spends the same account's budget.
    let admin = app.code_token(&acceptance::demo::ADMIN).await;
    let admin_password = acceptance::demo::ADMIN.password;
    assert_throttled(&change_email_as(&app, &user, &admin, admin_password, &refused).await);
    // An hour on, the budget is back.
    app.ctx.config.clock.advance(3600);
    let token = app.access_of(&user).await;
    let a = change_email(&app, &user, &token, &refused).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(app.messages_to(&refused).await.len(), 1);
}

async fn one_address_gets_no_more_than_its_budget_from_many_accounts(app: TestApp) {
    app.start_of_window(3600);
    let victim = fresh_address("victim");
    for n in 0..=PER_RECIPIENT {
        let user = app.new_user("CUSTOMER").await;
        let token = app.access_of(&user).await;
        let a = change_email(&app, &user, &token, &victim).await;
        if n < PER_RECIPIENT {
            assert_eq!(a.status, 200, "account {n}: {:?}", a.body);
        } else {
            assert_throttled(&a);
            assert!(pending_email(&app, &user, &token).await.is_null());
        }
    }
    assert_eq!(app.messages_to(&victim).await.len(), PER_RECIPIENT);
}

async fn email_changes_are_budgeted_per_source(app: TestApp) {
    app.start_of_window(3600);
    // Every request of a test comes from 127.0.0.1: one source.
    let accounts = PER_SOURCE / PER_ACCOUNT;
    for n in 0..=accounts {
        let user = app.new_user("CUSTOMER").await;
        let token = app.access_of(&user).await;
        let to = fresh_address(&format!("src{n}x"));
        let a = change_email(&app, &user, &token, &to).await;
        if n == accounts {
            assert_throttled(&a);
            assert!(app.messages_to(&to).await.is_empty());
            return;
        }
        assert_eq!(a.status, 200, "{:?}", a.body);
        for k in 1..PER_ACCOUNT {
            let to = fresh_address(&format!("src{n}x{k}"));
            let a = change_email(&app, &user, &token, &to).await;
            assert_eq!(a.status, 200, "account {n}, change {k}: {:?}", a.body);
        }
    }
}

/// Sign-in codes already had both budgets (`login.rs`: 10 attempts per account and 50 per source
/// per 15 minutes, counted before a code is sent); these tests hold them to it for the codes sent.
async fn sign_in_codes_are_budgeted_per_account_by_mail_and_sms(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    app.confirm_phone(&user, &access).await;
    // A fresh window for the budget: confirming took a sign-in code of its own.
    app.start_of_window(900);
    let texts_before = app.messages_to(&user.phone).await.len();
    for n in 0..10 {
        let channel = if n % 2 == 0 { "Email" } else { "Phone" };
        let a = app.login(&user.email, &user.password, channel).await;
        assert_eq!(a.status, 200, "login {n}: {:?}", a.body);
    }
    let mails = app.messages_to(&user.email).await.len();
    let texts = app.messages_to(&user.phone).await.len();
    assert_eq!(texts, texts_before + 5);
    for channel in ["Email", "Phone"] {
        assert_throttled(&app.login(&user.email, &user.password, channel).await);
    }
    assert_eq!(app.messages_to(&user.email).await.len(), mails);
    assert_eq!(app.messages_to(&user.phone).await.len(), texts);
    app.ctx.config.clock.advance(900);
    let a = app.login(&user.email, &user.password, "Phone").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(app.messages_to(&user.phone).await.len(), texts + 1);
}

async fn sign_in_codes_are_budgeted_per_source(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("CUSTOMER").await;
    for _ in 0..50 {
        // Refused before any password is checked, but counted against the source all the same.
        let a = app.post_json("/auth/login/", &json!({}), None).await;
        assert_eq!(a.status, 400);
    }
    let before = app.messages_to(&user.email).await.len();
    assert_throttled(&app.login(&user.email, &user.password, "Email").await);
    assert_eq!(app.messages_to(&user.email).await.len(), before);
}

async fn registration_and_re_verify_mails_are_budgeted_per_source(app: TestApp) {
    app.start_of_window(3600);
    for _ in 0..20 {
        assert_eq!(app.register(&json!({}), None).await.status, 400);
    }
    let body = app.registration("CUSTOMER");
    assert_throttled(&app.register(&body, None).await);
    let email = body["email"].as_str().unwrap();
    assert!(app.messages_to(email).await.is_empty());

    let unverified = app.registration("CUSTOMER");
    app.ctx.config.clock.advance(3600);
    assert_eq!(app.register(&unverified, None).await.status, 201);
    let email = unverified["email"].as_str().unwrap();
    for _ in 0..20 {
        let a = app
            .post_json("/auth/re-verify-email/", &json!({}), None)
            .await;
        assert_eq!(a.status, 400);
    }
    let a = app
        .post_json("/auth/re-verify-email/", &json!({ "email": email }), None)
        .await;
    assert_throttled(&a);
    assert_eq!(
        app.messages_to(email).await.len(),
        1,
        "the registration link only"
    );
}

on_both_backends!(
    the_same_new_email_eight_times_sends_one_mail,
    email_changes_past_the_account_budget_get_429_and_change_nothing,
    one_address_gets_no_more_than_its_budget_from_many_accounts,
    email_changes_are_budgeted_per_source,
    sign_in_codes_are_budgeted_per_account_by_mail_and_sms,
    sign_in_codes_are_budgeted_per_source,
    registration_and_re_verify_mails_are_budgeted_per_source,
);
