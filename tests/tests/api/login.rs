//! Login with a one-time code by e-mail or SMS, and each attack of ARCHITECTURE.md §6 on it.

use acceptance::{on_both_backends, Backend, TestApp};
use serde_json::json;

async fn login_by_email_then_code_gives_the_published_answer(app: TestApp) {
    let user = app.new_user("DEVELOPER").await;
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // The published `{"data": {"id"}}`, and the attempt's handle added beside it.
    assert_eq!(a.body["data"]["id"], json!(user.id));
    let handle = a.body["data"]["attempt"].as_str().unwrap_or_default();
    assert!(
        handle.len() == 32 && handle.bytes().all(|b| b.is_ascii_hexdigit()),
        "{:?}",
        a.body
    );
    assert_eq!(a.body["data"].as_object().map(|d| d.len()), Some(2));
    let mail = app.messages_to(&user.email).await.pop().unwrap();
    assert_eq!(mail.subject, "Your Fintract sign-in code");
    assert!(mail.body.contains("expires in 5 minutes"), "{}", mail.body);
    let code = app.code_sent_to(&user.email).await;
    let a = app.verify_otp(user.id, &code).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let keys: Vec<_> = a.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "message",
            "id",
            "customer_id",
            "email",
            "username",
            "verification_status",
            "tokens",
            "user_type",
            "device"
        ]
    );
    assert_eq!(a.body["message"], "Successfully Logged In");
    assert_eq!(a.body["verification_status"], true);
    assert_eq!(a.body["user_type"], "DEVELOPER");
    let access = a.body["tokens"]["access"].as_str().unwrap();
    let info = app
        .call(
            "GET",
            &format!("/auth/info/{}/", user.id),
            None,
            Some(access),
        )
        .await;
    assert_eq!(info.status, 200);
    let refresh = a.body["tokens"]["refresh"].as_str().unwrap();
    assert_eq!(app.refresh(refresh).await.status, 200);
}

async fn login_by_phone_sends_the_code_by_sms(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let access = app.access_of(&user).await;
    app.confirm_phone(&user, &access).await;
    let texts = app.messages_to(&user.phone).await.len();
    let a = app.login(&user.email, &user.password, "phone").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let sms = app.messages_to(&user.phone).await;
    assert_eq!(sms.len(), texts + 1);
    assert_eq!(sms[texts].channel, shared::notify::Channel::Sms);
    let code = app.code_sent_to(&user.phone).await;
    assert_eq!(app.verify_otp(user.id, &code).await.status, 200);
}

async fn six_wrong_codes_burn_the_code(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    let code = app.code_sent_to(&user.email).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        let a = app.verify_otp(user.id, wrong).await;
        assert_eq!((a.status, a.error()), (401, "Invalid or expired code."));
    }
    let a = app.verify_otp(user.id, &code).await;
    assert_eq!(
        a.status, 401,
        "the right code after five wrong tries is burned"
    );
}

async fn parallel_guesses_get_no_more_than_five_tries(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    let code = app.code_sent_to(&user.email).await;
    let guesses: Vec<String> = (0..20)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
    let answers =
        futures::future::join_all(guesses.iter().map(|g| app.verify_otp(user.id, g))).await;
    assert!(answers.iter().all(|a| a.status == 401));
    assert_eq!(app.verify_otp(user.id, &code).await.status, 401);
}

async fn a_code_works_once(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    let code = app.code_sent_to(&user.email).await;
    let answers = futures::future::join_all((0..4).map(|_| app.verify_otp(user.id, &code))).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 1);
    assert_eq!(app.verify_otp(user.id, &code).await.status, 401, "replayed");
}

async fn a_new_login_voids_the_code_of_the_older_attempt(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    let first = app.code_sent_to(&user.email).await;
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    let second = app.code_sent_to(&user.email).await;
    if first != second {
        assert_eq!(app.verify_otp(user.id, &first).await.status, 401);
    }
    assert_eq!(app.verify_otp(user.id, &second).await.status, 200);
}

/// A gateway whose codes live one second.
async fn short_lived_codes(backend: Backend) -> TestApp {
    TestApp::spawn_seeded_with(backend, |c| c.otp_ttl = std::time::Duration::from_secs(1)).await
}

async fn an_expired_code_is_refused(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    let code = app.code_sent_to(&user.email).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.verify_otp(user.id, &code).await.status, 401);
}

mod expiry {
    use super::*;
    acceptance::on_both_backends!(with short_lived_codes; an_expired_code_is_refused);
}

async fn answers_do_not_reveal_whether_an_email_exists(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let wrong_password = app.login(&user.email, "not the password", "Email").await;
    let unknown = app
        .login(
            &format!("{}@example.com", acceptance::unique("ghost")),
            "not the password",
            "Email",
        )
        .await;
    assert_eq!(
        (wrong_password.status, &wrong_password.body),
        (unknown.status, &unknown.body)
    );
    assert_eq!(
        wrong_password.body,
        json!({"error": "Invalid email or password."})
    );
    // The code endpoint answers a user without a code exactly like a wrong code.
    let no_code = app.verify_otp(user.id, "123456").await;
    let no_user = app.verify_otp(987_654, "123456").await;
    assert_eq!(
        (no_code.status, &no_code.body),
        (no_user.status, &no_user.body)
    );
    assert!(
        app.messages_to(&user.email).await.len() == 1,
        "only the registration link"
    );
}

async fn login_attempts_are_throttled_per_address(app: TestApp) {
    app.start_of_window(900);
    let user = app.new_user("CUSTOMER").await;
    let mut statuses = vec![];
    for _ in 0..11 {
        statuses.push(
            app.login(&user.email, "wrong password!", "Email")
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!(
        a.status, 429,
        "even the right password waits out the window"
    );
    assert!(a.headers.contains_key("retry-after"));
}

async fn bad_login_and_code_requests_are_400(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let a = app
        .post_json(
            "/auth/login/",
            &json!({"email": user.email, "password": user.password}),
            None,
        )
        .await;
    assert_eq!(a.body["fields"]["otpType"], "This field is required.");
    let a = app.login(&user.email, &user.password, "Fax").await;
    assert_eq!(a.body["fields"]["otpType"], "Must be Email, Phone or Totp.");
    assert_eq!(app.verify_otp(user.id, "12ab56").await.status, 400);
    assert_eq!(
        app.post_json(
            &format!("/auth/login/{}/", user.id),
            &json!({"otp": 123456}),
            None
        )
        .await
        .status,
        400
    );
    for id in [
        "abc",
        "0",
        "-1",
        "99999999999999999999999",
        "1.5",
        "%E2%82%AC",
    ] {
        let a = app
            .post_json(
                &format!("/auth/login/{id}/"),
                &json!({"otp": "123456"}),
                None,
            )
            .await;
        assert_eq!(a.status, 400, "{id}: {:?}", a.body);
    }
    // `..` is resolved by the URL itself: /auth/login/../ is /auth/, which no route serves.
    let a = app
        .post_json("/auth/login/%2e%2e/", &json!({"otp": "123456"}), None)
        .await;
    assert_eq!(a.status, 404);
}

on_both_backends!(
    login_by_email_then_code_gives_the_published_answer,
    login_by_phone_sends_the_code_by_sms,
    six_wrong_codes_burn_the_code,
    parallel_guesses_get_no_more_than_five_tries,
    a_code_works_once,
    a_new_login_voids_the_code_of_the_older_attempt,
    answers_do_not_reveal_whether_an_email_exists,
    login_attempts_are_throttled_per_address,
    bad_login_and_code_requests_are_400,
);
