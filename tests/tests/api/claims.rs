//! A bank customer id given at registration is a claim, not an owner: nobody can squat a
//! customer's id or e-mail address and keep the real customer out.

use acceptance::{on_both_backends, TestApp, TestUser};
use serde_json::{json, Value};
use shared::model::Account;

/// A bank customer with one account and no Fintract account yet; returns (customer id, account).
async fn bank_customer(app: &TestApp) -> (String, String) {
    let customer_id = acceptance::unique("C").replace('x', "");
    let account_number = format!("7{}", &customer_id[1..]);
    app.ctx
        .store
        .put_account(&Account {
            account_number: account_number.clone(),
            customer_id: customer_id.clone(),
            customer_name: "Victoria Nakato".into(),
            balance: 900_000,
            currency: "UGX".into(),
        })
        .await
        .unwrap();
    (customer_id, account_number)
}

fn registration(app: &TestApp, email: &str, customer_id: &str) -> Value {
    let mut body = app.registration("CUSTOMER");
    body["email"] = json!(email);
    body["customer_id"] = json!(customer_id);
    body
}

/// `user`'s DFCU token, and the loans answer for `account` with it.
async fn loans_status(app: &TestApp, user: &TestUser, account: &str) -> u16 {
    let token = app.token(&user.username, &user.password).await;
    assert_eq!(token.status, 200, "{:?}", token.body);
    app.loans(account, token.body["access"].as_str())
        .await
        .status
}

/// The numbered attack: a stranger registered with the victim's e-mail and customer id, the
/// victim opened the genuine link, and the real customer was refused ever after.
async fn a_squatted_customer_id_does_not_keep_the_real_customer_out(app: TestApp) {
    let (customer_id, account) = bank_customer(&app).await;
    let victim_email = format!("{}@example.com", acceptance::unique("victim"));
    // The attacker's account, verified by the victim clicking the link mailed to them.
    let attacker = app
        .register_verified(&registration(&app, &victim_email, &customer_id), None)
        .await;
    // The real customer registers under another address, claiming the same id: not refused.
    let own_email = format!("{}@example.com", acceptance::unique("real"));
    let real = app
        .register_verified(&registration(&app, &own_email, &customer_id), None)
        .await;
    assert_ne!(real.id, attacker.id);

    let admin = app.code_token(&acceptance::demo::ADMIN).await;
    let approve = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            app.post_json("/auth/admin_approval/", &body, Some(admin))
                .await
        }
    };
    let listed = app
        .call(
            "GET",
            &format!("/auth/admin_approval/?customer_id={customer_id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["claimants"].as_array().unwrap().len(), 2);

    let several = approve(json!({"customer_id": customer_id})).await;
    assert_eq!(several.status, 409, "{:?}", several.body);
    let ids: Vec<u64> = several.body["claimants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [attacker.id, real.id]);
    assert_eq!(several.body["claimants"][1]["email"], own_email);

    let chosen = approve(json!({"customer_id": customer_id, "user_id": real.id})).await;
    assert_eq!(chosen.status, 200, "{:?}", chosen.body);
    assert_eq!(loans_status(&app, &real, &account).await, 200);
    // The attacker's claim is turned away, and they are told.
    assert_ne!(loans_status(&app, &attacker, &account).await, 200);
    // (Signing in from a new device is told to the address too: the notice is among the mail.)
    let mail = app.messages_to(&victim_email).await;
    assert!(
        mail.iter().any(|m| m.body.contains("was not linked")),
        "{mail:?}"
    );
    let again = approve(json!({"customer_id": customer_id, "user_id": attacker.id})).await;
    assert_eq!(again.status, 409, "bound already: {:?}", again.body);
    // Once bound, nobody else may claim it.
    let late = app
        .register(&registration(&app, "late@example.com", &customer_id), None)
        .await;
    assert_eq!(late.status, 400, "{:?}", late.body);
}

/// An account nobody verifies frees its e-mail, username and claim after its time, as seen by
/// the moved clock on every backend.
async fn an_unverified_account_expires_and_frees_what_it_claimed(app: TestApp) {
    let (customer_id, _) = bank_customer(&app).await;
    let email = format!("{}@example.com", acceptance::unique("owner"));
    let squat = app
        .register(&registration(&app, &email, &customer_id), None)
        .await;
    assert_eq!(squat.status, 201, "{:?}", squat.body);
    let refused = app
        .register(&registration(&app, &email, &customer_id), None)
        .await;
    assert_eq!(refused.status, 400, "the address is still claimed");

    let ttl = app.ctx.config.unverified_ttl.as_secs() as i64;
    app.ctx.config.clock.advance(ttl + 1);
    let mut body = registration(&app, &email, &customer_id);
    body["username"] = squat.body["username"].clone();
    let owner = app.register(&body, None).await;
    assert_eq!(owner.status, 201, "{:?}", owner.body);
    let gone = app.ctx.store.user(squat.body["id"].as_u64().unwrap()).await;
    assert!(gone.unwrap().is_none(), "the expired account is removed");
    let claimants = app.ctx.store.claimants(&customer_id).await.unwrap();
    assert_eq!(claimants.len(), 1);
    assert_eq!(claimants[0].email, email);
}

on_both_backends!(
    a_squatted_customer_id_does_not_keep_the_real_customer_out,
    an_unverified_account_expires_and_frees_what_it_claimed,
);
