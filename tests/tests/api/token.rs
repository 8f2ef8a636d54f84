//! `POST /token/` as a client following the DFCU document would call it.

use acceptance::{demo, on_both_backends, peek_claims as claims, TestApp};
use serde_json::json;
use shared::model::{NewUser, UserType};

async fn valid_credentials_give_a_refresh_and_access_pair(app: TestApp) {
    let a = app.token(demo::JAMES.username, demo::JAMES.password).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
    let (refresh, access) = (
        claims(a.body["refresh"].as_str().unwrap()),
        claims(a.body["access"].as_str().unwrap()),
    );
    assert_eq!(access["token_type"], "access");
    assert_eq!(refresh["token_type"], "refresh");
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(
        refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(access["sub"], refresh["sub"]);
    assert_ne!(access["jti"], refresh["jti"]);
    let keys: Vec<_> = a.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["refresh", "access", "device"],
        "the published pair and the added device token: {:?}",
        a.body
    );
}

async fn a_form_encoded_body_works_like_json(app: TestApp) {
    let form = format!(
        "username={}&password={}",
        demo::ADMIN.username,
        demo::ADMIN.password
    );
    let a = app
        .post_raw("/token", "application/x-www-form-urlencoded", form, None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.body["access"].is_string());
}

async fn every_bad_credential_gets_the_same_401(app: TestApp) {
    let wrong_password = app.token(demo::JAMES.username, "not-his-password").await;
    let unknown_user = app.token("nobody-by-this-name", "whatever-password").await;
    let case_changed_password = app
        .token(demo::JAMES.username, &demo::JAMES.password.to_uppercase())
        .await;
    for a in [&wrong_password, &unknown_user, &case_changed_password] {
        assert_eq!(a.status, 401);
        assert_eq!(a.body, json!({"error": "Invalid username or password."}));
    }
}

async fn an_unverified_account_gets_no_token(app: TestApp) {
    let hash = shared::password::hash("unverified-pass".into())
        .await
        .unwrap();
    let created = app
        .ctx
        .store
        .create_user(NewUser {
            username: "unverified".into(),
            email: "unverified@example.com".into(),
            name: "Not Yet".into(),
            phone: "+256700000001".into(),
            user_type: UserType::Customer,
            customer_id: "7000000000000001".into(),
            gender: None,
            password_hash: hash,
            is_verified: false,
            admin_approved: true,
            created_at: shared::now(),
        })
        .await
        .unwrap();
    assert!(created.is_ok());
    let a = app.token("unverified", "unverified-pass").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error(), "Invalid username or password.");
}

async fn missing_and_mistyped_fields_are_named(app: TestApp) {
    let a = app.post_json("/token/", &json!({}), None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["fields"]["username"], "This field is required.");
    assert_eq!(a.body["fields"]["password"], "This field is required.");
    let a = app
        .post_json("/token/", &json!({"username": 12, "password": ["x"]}), None)
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["fields"]["username"], "Must be a string.");
    assert_eq!(a.body["fields"]["password"], "Must be a string.");
    let a = app
        .post_json("/token/", &json!({"username": "   ", "password": ""}), None)
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["fields"]["username"], "This field may not be blank.");
}

async fn malformed_empty_and_oversized_bodies_are_4xx(app: TestApp) {
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "application/json",
            b"{\"username\": \"jblunt\"".to_vec(),
            400,
        ),
        ("application/json", b"".to_vec(), 400),
        ("application/json", b"[\"jblunt\"]".to_vec(), 400),
        ("application/json", b"null".to_vec(), 400),
        ("application/json", vec![0xff, 0xfe, 0x00], 400),
        (
            "application/xml",
            b"<username>jblunt</username>".to_vec(),
            415,
        ),
        (
            "application/json",
            format!("{{\"username\":\"{}\"}}", "a".repeat(100_000)).into_bytes(),
            413,
        ),
    ];
    for (content_type, body, status) in cases {
        let len = body.len();
        let a = app.post_raw("/token/", content_type, body, None).await;
        assert_eq!(
            a.status, status,
            "{content_type} body of {len} bytes: {:?}",
            a.body
        );
        assert!(a.error().len() > 3, "a message for a person: {:?}", a.body);
    }
    // Over API Gateway's 10 MB the gateway answers 413 from the declared length, after reading
    // and dropping the rest of the body so that the client gets to read it (local_tools.rs).
    let huge = app
        .client
        .post(app.url("/token/"))
        .header("content-type", "application/json")
        .body(vec![b' '; 11 * 1024 * 1024])
        .send()
        .await
        .expect("the 413, not a reset");
    assert_eq!(huge.status().as_u16(), 413);
}

async fn other_methods_and_paths_are_refused_as_json(app: TestApp) {
    let a = app.send(app.client.get(app.url("/token/"))).await;
    assert_eq!(a.status, 405);
    assert!(a.body["error"].is_string());
    let a = app.send(app.client.post(app.url("/token/extra/"))).await;
    assert_eq!(a.status, 404);
    assert!(a.body["error"].is_string());
}

on_both_backends!(
    valid_credentials_give_a_refresh_and_access_pair,
    a_form_encoded_body_works_like_json,
    every_bad_credential_gets_the_same_401,
    an_unverified_account_gets_no_token,
    missing_and_mistyped_fields_are_named,
    malformed_empty_and_oversized_bodies_are_4xx,
    other_methods_and_paths_are_refused_as_json,
);
