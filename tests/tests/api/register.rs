//! Registration, e-mail verification and re-verification, as a client following the Fintract
//! document would run them.

use acceptance::{demo, on_both_backends, TestApp};
use serde_json::json;
use shared::model::Account;

async fn registering_creates_a_user_and_mails_a_single_use_link(app: TestApp) {
    let body = app.registration("DEVELOPER");
    let a = app.register(&body, None).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let keys: Vec<_> = a.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "username",
            "email",
            "name",
            "user_type",
            "phone",
            "customer_id",
            "gender"
        ]
    );
    assert_eq!(a.body["user_type"], "DEVELOPER");
    assert_eq!(a.body["gender"], "FEMALE");
    let customer_id = a.body["customer_id"].as_str().unwrap();
    assert!(customer_id.len() == 16 && customer_id.bytes().all(|b| b.is_ascii_digit()));
    let email = a.body["email"].as_str().unwrap();
    let link = app.link_sent_to(email).await;
    assert!(link.starts_with("/auth/verify-email/?token="), "{link}");
    let first = app.send(app.client.get(app.url(&link))).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["message"], "Email successfully verified");
    let again = app.send(app.client.get(app.url(&link))).await;
    assert_eq!(again.status, 400, "a link works once");
    let forged = app
        .send(
            app.client
                .get(app.url("/auth/verify-email/?token=deadbeef")),
        )
        .await;
    assert_eq!(
        (forged.status, forged.error()),
        (400, "Invalid or expired verification link.")
    );
    let missing = app
        .send(app.client.get(app.url("/auth/verify-email/")))
        .await;
    assert_eq!(missing.status, 400);
}

async fn a_host_header_cannot_point_the_mailed_link_at_another_site(app: TestApp) {
    let body = app.registration("DEVELOPER");
    let a = app
        .send(
            app.client
                .post(app.url("/auth/register/"))
                .header("host", "evil.example")
                .header("x-forwarded-host", "evil.example")
                .json(&body),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let mail = app.last_message_to(body["email"].as_str().unwrap()).await;
    assert!(!mail.contains("evil.example"), "{mail}");
    assert!(
        mail.contains(&format!("{}/auth/verify-email/?token=", app.base)),
        "{mail}"
    );
}

async fn an_unverified_user_gets_no_code_and_no_token(app: TestApp) {
    let body = app.registration("CUSTOMER");
    assert_eq!(app.register(&body, None).await.status, 201);
    let (email, password, username) = (
        body["email"].as_str().unwrap(),
        body["password"].as_str().unwrap(),
        body["username"].as_str().unwrap(),
    );
    let a = app.login(email, password, "Email").await;
    assert_eq!(
        (a.status, a.error()),
        (403, "Verify your e-mail address before signing in.")
    );
    assert_eq!(app.token(username, password).await.status, 401);
    let link = app.link_sent_to(email).await;
    assert_eq!(app.send(app.client.get(app.url(&link))).await.status, 200);
    assert_eq!(app.login(email, password, "Email").await.status, 200);
    assert_eq!(app.token(username, password).await.status, 200);
}

async fn a_taken_email_or_username_is_refused_case_insensitively(app: TestApp) {
    let body = app.registration("CUSTOMER");
    assert_eq!(app.register(&body, None).await.status, 201);
    let mut same_email = app.registration("CUSTOMER");
    same_email["email"] = json!(body["email"].as_str().unwrap().to_uppercase());
    let a = app.register(&same_email, None).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body["fields"]["email"],
        "A user with that email already exists."
    );
    let mut same_username = app.registration("CUSTOMER");
    same_username["username"] = json!(body["username"].as_str().unwrap().to_uppercase());
    let a = app.register(&same_username, None).await;
    assert_eq!(
        a.body["fields"]["username"],
        "A user with that username already exists."
    );
}

async fn concurrent_registrations_of_one_email_create_one_user(app: TestApp) {
    let email = format!("{}@example.com", acceptance::unique("race"));
    let bodies: Vec<_> = (0..10)
        .map(|_| {
            let mut b = app.registration("CUSTOMER");
            b["email"] = json!(email);
            b
        })
        .collect();
    let answers = futures::future::join_all(bodies.iter().map(|b| app.register(b, None))).await;
    let statuses: Vec<_> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        9,
        "{statuses:?}"
    );
}

async fn privileged_types_need_a_fintract_admin(app: TestApp) {
    let body = app.registration("BANK_ADMIN");
    assert_eq!(app.register(&body, None).await.status, 401);
    let customer = app.code_token(&demo::JAMES).await;
    let a = app.register(&body, Some(&customer)).await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    let teller = app.code_token(&demo::BANK_ADMIN).await;
    assert_eq!(app.register(&body, Some(&teller)).await.status, 403);
    let admin = app.code_token(&demo::ADMIN).await;
    let a = app.register(&body, Some(&admin)).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["user_type"], "BANK_ADMIN");
}

async fn bad_registrations_name_each_field(app: TestApp) {
    let mut body = app.registration("CUSTOMER");
    body["email"] = json!("not-an-email");
    body["password2"] = json!("something else entirely");
    body["phone"] = json!("12ab");
    body["user_type"] = json!("ROOT");
    body["gender"] = json!("OTHER");
    body["username"] = json!("no spaces allowed");
    let a = app.register(&body, None).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    for field in [
        "email",
        "password2",
        "phone",
        "user_type",
        "gender",
        "username",
    ] {
        assert!(a.body["fields"][field].is_string(), "{field}: {:?}", a.body);
    }
    let mut short = app.registration("CUSTOMER");
    short["password"] = json!("short");
    short["password2"] = json!("short");
    let a = app.register(&short, None).await;
    assert_eq!(
        a.body["fields"]["password"],
        "Must be at least 8 characters."
    );
    let a = app.register(&json!({}), None).await;
    for field in ["email", "username", "password", "password2", "phone"] {
        assert_eq!(
            a.body["fields"][field], "This field is required.",
            "{field}"
        );
    }
    assert_eq!(
        app.post_raw("/auth/register/", "application/json", "{\"email\":", None)
            .await
            .status,
        400
    );
}

async fn a_bank_customer_id_links_accounts_served_after_approval(app: TestApp) {
    let account = Account {
        account_number: "5000199999".into(),
        customer_id: "C777".into(),
        customer_name: "Linked Customer".into(),
        balance: 42_000,
        currency: "UGX".into(),
    };
    app.ctx.store.put_account(&account).await.unwrap();
    let mut body = app.registration("CUSTOMER");
    body["customer_id"] = json!("C777");
    let user = app.register_verified(&body, None).await;
    assert_eq!(user.customer_id, "C777");
    let access = app.access_of(&user).await;
    let a = app.loans("5000199999", Some(&access)).await;
    assert_eq!(
        (a.status, a.error()),
        (403, "Account awaiting admin approval.")
    );
    let info = app.profile_answer(user.id, &access).await;
    assert_eq!(
        info.body["net_balance"], 0,
        "no account data before approval"
    );

    let admin = app.code_token(&demo::ADMIN).await;
    let approve = |bearer: String| {
        let app = &app;
        async move {
            app.post_json(
                "/auth/admin_approval/",
                &json!({"customer_id": "C777"}),
                Some(&bearer),
            )
            .await
        }
    };
    assert_eq!(
        approve(access.clone()).await.status,
        403,
        "a customer cannot approve"
    );
    let a = approve(admin.clone()).await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, json!({"msg": "User admin approved"}))
    );
    let a = app.loans("5000199999", Some(&access)).await;
    assert_eq!(
        a.status, 200,
        "approval takes effect on the next request: {:?}",
        a.body
    );
    let info = app.profile_answer(user.id, &access).await;
    assert_eq!(info.body["net_balance"], 42_000);

    let mut again = app.registration("CUSTOMER");
    again["customer_id"] = json!("C777");
    let a = app.register(&again, None).await;
    assert_eq!(a.status, 400);
    assert!(a.body["fields"]["customer_id"].is_string());
    let unknown = app
        .post_json(
            "/auth/admin_approval/",
            &json!({"customer_id": "C000000"}),
            Some(&admin),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let missing = app
        .post_json("/auth/admin_approval/", &json!({}), Some(&admin))
        .await;
    assert_eq!(missing.status, 400);
}

async fn re_verify_answers_the_same_for_any_address_and_is_throttled(app: TestApp) {
    app.start_of_window(3600);
    let body = app.registration("CUSTOMER");
    assert_eq!(app.register(&body, None).await.status, 201);
    let email = body["email"].as_str().unwrap();
    let nobody = format!("{}@example.com", acceptance::unique("nobody"));
    let known = app
        .post_json("/auth/re-verify-email/", &json!({"email": email}), None)
        .await;
    let unknown = app
        .post_json("/auth/re-verify-email/", &json!({"email": nobody}), None)
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(known.body, json!({"message": "New token sent"}));
    assert_eq!(known.status, 201);
    assert_eq!(
        app.messages_to(email).await.len(),
        2,
        "registration link and the new one"
    );
    assert!(app.messages_to(&nobody).await.is_empty());
    // The newest link works.
    let link = app.link_sent_to(email).await;
    assert_eq!(app.send(app.client.get(app.url(&link))).await.status, 200);
    for target in [email, nobody.as_str()] {
        let mut statuses = vec![];
        for _ in 0..3 {
            statuses.push(
                app.post_json("/auth/re-verify-email/", &json!({"email": target}), None)
                    .await
                    .status,
            );
        }
        assert_eq!(statuses, [201, 201, 429], "{target}");
    }
    assert_eq!(
        app.post_json("/auth/re-verify-email/", &json!({"email": "x"}), None)
            .await
            .status,
        400
    );
}

on_both_backends!(
    registering_creates_a_user_and_mails_a_single_use_link,
    a_host_header_cannot_point_the_mailed_link_at_another_site,
    an_unverified_user_gets_no_code_and_no_token,
    a_taken_email_or_username_is_refused_case_insensitively,
    concurrent_registrations_of_one_email_create_one_user,
    privileged_types_need_a_fintract_admin,
    bad_registrations_name_each_field,
    a_bank_customer_id_links_accounts_served_after_approval,
    re_verify_answers_the_same_for_any_address_and_is_throttled,
);
