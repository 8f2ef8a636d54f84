//! `POST /token/refresh/`: rotation, re-use detection, token types.

use acceptance::{demo, on_both_backends, TestApp};
use serde_json::json;
use shared::jwt::{Claims, TokenType, AUD_DFCU};

async fn pair(app: &TestApp) -> (String, String) {
    let a = app.token(demo::JAMES.username, demo::JAMES.password).await;
    assert_eq!(a.status, 200);
    (
        a.body["refresh"].as_str().unwrap().into(),
        a.body["access"].as_str().unwrap().into(),
    )
}

async fn a_refresh_token_is_rotated_and_the_new_pair_works(app: TestApp) {
    let (refresh, _) = pair(&app).await;
    let a = app.refresh(&refresh).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let (new_refresh, new_access) = (
        a.body["refresh"].as_str().unwrap(),
        a.body["access"].as_str().unwrap(),
    );
    assert_ne!(new_refresh, refresh);
    assert_eq!(
        app.loans(demo::JAMES_ACCOUNT, Some(new_access))
            .await
            .status,
        200
    );
    assert_eq!(
        app.refresh(new_refresh).await.status,
        200,
        "the new refresh token is live"
    );
}

async fn a_spent_refresh_token_is_refused_and_revokes_its_family(app: TestApp) {
    let (first, _) = pair(&app).await;
    let second = app.refresh(&first).await.body["refresh"]
        .as_str()
        .unwrap()
        .to_string();
    let reuse = app.refresh(&first).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.error(), "Invalid or expired refresh token.");
    assert_eq!(
        app.refresh(&second).await.status,
        401,
        "the whole family is revoked"
    );
    // Another login of the same user is a different family and keeps working.
    let (other, _) = pair(&app).await;
    assert_eq!(app.refresh(&other).await.status, 200);
}

async fn concurrent_refreshes_of_one_token_have_exactly_one_winner(app: TestApp) {
    let (refresh, _) = pair(&app).await;
    let answers = futures::future::join_all((0..8).map(|_| app.refresh(&refresh))).await;
    let winners = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 401));
}

async fn an_access_token_is_not_a_refresh_token(app: TestApp) {
    let (refresh, access) = pair(&app).await;
    assert_eq!(app.refresh(&access).await.status, 401);
    let a = app.loans(demo::JAMES_ACCOUNT, Some(&refresh)).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body, json!({"error": "Invalid Auth Token."}));
}

async fn forged_expired_and_garbage_refresh_tokens_are_refused(app: TestApp) {
    let (refresh, _) = pair(&app).await;
    let now = shared::now();
    let keys = acceptance::test_signer();
    let expired = keys.sign(&Claims {
        iss: app.base.clone(),
        sub: "3".into(),
        token_type: TokenType::Refresh,
        jti: "x".into(),
        iat: now - 100_000,
        exp: now - 10,
        ver: 0,
        fam: Some("f".into()),
        auth_time: None,
        amr: vec![],
        aud: AUD_DFCU.into(),
    });
    let other_key = acceptance::attacker_signer();
    let forged = other_key.sign(&Claims {
        iss: app.base.clone(),
        sub: "1".into(),
        token_type: TokenType::Refresh,
        jti: "y".into(),
        iat: now,
        exp: now + 1000,
        ver: 0,
        fam: Some("f".into()),
        auth_time: None,
        amr: vec![],
        aud: AUD_DFCU.into(),
    });
    // A well-signed token that was never issued (its jti is unknown to the store).
    let unissued = keys.sign(&Claims {
        iss: app.base.clone(),
        sub: "3".into(),
        token_type: TokenType::Refresh,
        jti: "never-issued".into(),
        iat: now,
        exp: now + 1000,
        ver: 0,
        fam: Some("f".into()),
        auth_time: None,
        amr: vec![],
        aud: AUD_DFCU.into(),
    });
    let truncated = &refresh[..refresh.len() - 5];
    for t in [
        expired.as_str(),
        forged.as_str(),
        unissued.as_str(),
        truncated,
        "garbage",
        "a.b.c",
    ] {
        assert_eq!(app.refresh(t).await.status, 401, "{t}");
    }
    assert_eq!(
        app.post_json("/token/refresh/", &json!({}), None)
            .await
            .status,
        400
    );
    assert_eq!(
        app.post_json("/token/refresh/", &json!({"refresh": 5}), None)
            .await
            .status,
        400
    );
}

on_both_backends!(
    a_refresh_token_is_rotated_and_the_new_pair_works,
    a_spent_refresh_token_is_refused_and_revokes_its_family,
    concurrent_refreshes_of_one_token_have_exactly_one_winner,
    an_access_token_is_not_a_refresh_token,
    forged_expired_and_garbage_refresh_tokens_are_refused,
);
