//! `POST /api/accounts/loans/`: the DFCU document's sample, roles, and every way to get it wrong.

use std::sync::Arc;
use std::time::Duration;

use acceptance::gate::PairedReads;
use acceptance::{demo, on_both_backends, TestApp};
use base64::Engine;
use serde_json::json;
use shared::jwt::{Claims, TokenType, AUD_DFCU};

async fn james_gets_exactly_the_published_answer(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let a = app.loans(demo::JAMES_ACCOUNT, Some(&token)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // The DFCU document's sample response; his paid-off loan L000004 is left out.
    assert_eq!(
        a.body,
        json!({"response": {
            "customer_id": "C003",
            "customer_name": "James Blunt",
            "customer_account": "5000145080",
            "customer_loans": [
                {"loan_id": "L000005", "disbursement_date": "2023-02-16T12:24:54Z", "outstanding_amount": 500000}
            ]
        }})
    );
}

async fn the_token_may_come_in_an_auth_key_header(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let request = app
        .client
        .post(app.url("/api/accounts/loans"))
        .header("auth_key", &token)
        .json(&json!({"account_number": demo::JAMES_ACCOUNT}));
    let a = app.send(request).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["response"]["customer_id"], "C003");
}

async fn an_account_without_loans_answers_an_empty_list(app: TestApp) {
    let token = app.access_token(&demo::PETER).await;
    let a = app.loans(demo::PETER_ACCOUNT, Some(&token)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["response"]["customer_loans"], json!([]));
}

async fn admins_read_any_account(app: TestApp) {
    for admin in [&demo::ADMIN, &demo::BANK_ADMIN] {
        let token = app.access_token(admin).await;
        let a = app.loans(demo::SARAH_ACCOUNT, Some(&token)).await;
        assert_eq!(a.status, 200, "{}: {:?}", admin.username, a.body);
        let ids: Vec<_> = a.body["response"]["customer_loans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["loan_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["L000006", "L000007"]);
    }
}

async fn another_customers_account_is_not_found(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let theirs = app.loans(demo::SARAH_ACCOUNT, Some(&token)).await;
    let nobodys = app.loans("9999999999", Some(&token)).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.body, nobodys.body, "no existence leak");
    assert_eq!(theirs.error(), "Account not found.");
}

async fn an_unapproved_customer_and_a_developer_are_refused(app: TestApp) {
    let token = app.access_token(&demo::GRACE).await;
    let a = app.loans(demo::GRACE_ACCOUNT, Some(&token)).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.body, json!({"error": "Account awaiting admin approval."}));
    let token = app.access_token(&demo::DEVELOPER).await;
    assert_eq!(
        app.loans(demo::JAMES_ACCOUNT, Some(&token)).await.status,
        403
    );
}

async fn every_bad_token_is_invalid_auth_token(app: TestApp) {
    let now = shared::now();
    let claims = |token_type, exp| Claims {
        iss: app.base.clone(),
        sub: "3".into(),
        token_type,
        jti: "j".into(),
        iat: now - 10,
        exp,
        ver: 0,
        fam: None,
        auth_time: None,
        amr: vec![],
        aud: AUD_DFCU.into(),
    };
    let keys = acceptance::test_signer();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let valid = app.access_token(&demo::JAMES).await;
    let payload = valid.split('.').nth(1).unwrap();
    let alg_none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    let hs512 = format!(
        "{}.{payload}.{}",
        b64(r#"{"alg":"HS512","typ":"JWT"}"#),
        valid.split('.').nth(2).unwrap()
    );
    let admin_sub = b64(
        &json!({"sub":"1","token_type":"access","jti":"j","iat":now,"exp":now+300,"ver":0})
            .to_string(),
    );
    let tampered = format!(
        "{}.{admin_sub}.{}",
        valid.split('.').next().unwrap(),
        valid.split('.').nth(2).unwrap()
    );
    let expired = keys.sign(&claims(TokenType::Access, now - 1));
    let wrong_version = keys.sign(&Claims {
        ver: 7,
        ..claims(TokenType::Access, now + 300)
    });
    let no_such_user = keys.sign(&Claims {
        iss: app.base.clone(),
        sub: "999999".into(),
        ..claims(TokenType::Access, now + 300)
    });
    let other_key = acceptance::attacker_signer().sign(&claims(TokenType::Access, now + 300));
    for (what, token) in [
        ("alg none", alg_none.as_str()),
        ("HS512 header", &hs512),
        ("tampered sub", &tampered),
        ("expired", &expired),
        ("stale token version", &wrong_version),
        ("deleted user", &no_such_user),
        ("other key", &other_key),
        ("garbage", "not-a-token"),
    ] {
        let a = app.loans(demo::JAMES_ACCOUNT, Some(token)).await;
        assert_eq!(a.status, 401, "{what}");
        assert_eq!(a.body, json!({"error": "Invalid Auth Token."}), "{what}");
    }
    let a = app.loans(demo::JAMES_ACCOUNT, None).await;
    assert_eq!((a.status, a.error()), (401, "Invalid Auth Token."));
    let basic = app
        .client
        .post(app.url("/api/accounts/loans/"))
        .header("authorization", format!("Basic {valid}"));
    assert_eq!(
        app.send(basic.json(&json!({"account_number": demo::JAMES_ACCOUNT})))
            .await
            .status,
        401
    );
}

async fn bad_account_numbers_and_bodies_are_400(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let bodies = [
        json!({}),
        json!({"account_number": 5000145080u64}),
        json!({"account_number": "5000-145080"}),
        json!({"account_number": "../5000145080"}),
        json!({"account_number": ""}),
        json!({"account_number": "9".repeat(35)}),
        json!({"account_number": null}),
    ];
    for body in bodies {
        let a = app
            .post_json("/api/accounts/loans/", &body, Some(&token))
            .await;
        assert_eq!(a.status, 400, "{body}: {:?}", a.body);
        assert!(
            a.body["fields"]["account_number"].is_string(),
            "{body}: {:?}",
            a.body
        );
    }
    let a = app
        .post_raw(
            "/api/accounts/loans/",
            "application/json",
            "{\"account_number\":",
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = app
        .post_raw("/api/accounts/loans/", "application/json", "", Some(&token))
        .await;
    assert_eq!(a.status, 400);
}

/// ARCHITECTURE.md §10: the user re-read and the account query share one round trip. The gate lets
/// either read through only while the other is in flight, so made one after the other they fail.
async fn the_user_and_the_account_are_read_concurrently(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let gate = Arc::new(PairedReads::new(
        app.ctx.store.clone(),
        Duration::from_secs(10),
    ));
    let gated = app.with_store(gate.clone()).await;
    let a = gated.loans(demo::JAMES_ACCOUNT, Some(&token)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["response"]["customer_id"], "C003");
    let mut reads = gate.reads();
    reads.sort();
    assert_eq!(reads, ["account", "user"]);
}

/// A token that does not verify reads nothing; a verified token of a user it no longer stands
/// for reads the account beside the user but answers the 401 alone, never the account.
async fn refused_tokens_read_nothing_or_show_nothing(app: TestApp) {
    let now = shared::now();
    let keys = acceptance::test_signer();
    let claims = |sub: &str, ver, exp| Claims {
        iss: app.base.clone(),
        sub: sub.into(),
        token_type: TokenType::Access,
        jti: "j".into(),
        iat: now - 10,
        exp,
        ver,
        fam: None,
        auth_time: None,
        amr: vec![],
        aud: AUD_DFCU.into(),
    };
    let gate = Arc::new(PairedReads::new(
        app.ctx.store.clone(),
        Duration::from_secs(10),
    ));
    let gated = app.with_store(gate.clone()).await;
    let expired = keys.sign(&claims("3", 0, now - 1));
    let other_key = acceptance::attacker_signer().sign(&claims("3", 0, now + 300));
    for (what, token) in [
        ("no token", None),
        ("garbage", Some("not-a-token")),
        ("expired", Some(expired.as_str())),
        ("other key", Some(other_key.as_str())),
    ] {
        let a = gated.loans(demo::JAMES_ACCOUNT, token).await;
        assert_eq!(a.body, json!({"error": "Invalid Auth Token."}), "{what}");
        assert_eq!(gate.reads(), Vec::<&str>::new(), "{what}: nothing read");
    }

    let stale = keys.sign(&claims("3", 7, now + 300));
    let deleted = keys.sign(&claims("999999", 0, now + 300));
    for (what, token) in [("stale token version", &stale), ("deleted user", &deleted)] {
        let a = gated.loans(demo::JAMES_ACCOUNT, Some(token)).await;
        assert_eq!(a.status, 401, "{what}");
        assert_eq!(a.body, json!({"error": "Invalid Auth Token."}), "{what}");
    }
    assert_eq!(gate.reads().len(), 4);

    // With a bad body there is no account to read, and the token is still judged first.
    let a = app
        .post_json("/api/accounts/loans/", &json!({}), Some(&stale))
        .await;
    assert_eq!((a.status, a.error()), (401, "Invalid Auth Token."));
}

on_both_backends!(
    james_gets_exactly_the_published_answer,
    the_token_may_come_in_an_auth_key_header,
    an_account_without_loans_answers_an_empty_list,
    admins_read_any_account,
    another_customers_account_is_not_found,
    an_unapproved_customer_and_a_developer_are_refused,
    every_bad_token_is_invalid_auth_token,
    bad_account_numbers_and_bodies_are_400,
    the_user_and_the_account_are_read_concurrently,
    refused_tokens_read_nothing_or_show_nothing,
);
