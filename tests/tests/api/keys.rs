//! Tokens partners can verify (ARCHITECTURE.md §6): asymmetric signatures, the published key set
//! and issuer metadata, keys held only where they are used, and rotation without a sign-out.

use acceptance::{demo, TestApp};
use serde_json::Value;
use shared::jwt::{Claims, TokenType, AUD_DFCU};
use shared::keys::KEY_CACHE_SECS;
use shared::signing::{rotate, Step};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT header")
        .kid
        .expect("a kid")
}

/// The published key set: public keys only, cacheable, and the key that signed our tokens.
async fn the_key_set_and_the_issuer_metadata_are_published(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwks = app
        .send(app.client.get(app.url("/.well-known/jwks.json")))
        .await;
    assert_eq!(jwks.status, 200, "{:?}", jwks.body);
    assert_eq!(
        jwks.headers["cache-control"].to_str().unwrap(),
        format!("public, max-age={KEY_CACHE_SECS}")
    );
    let keys = jwks.body["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| k["kid"] == kid_of(&token)));
    for key in keys {
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        assert!(
            key.get("d").is_none(),
            "a private part was published: {key}"
        );
    }
    let meta = app
        .send(
            app.client
                .get(app.url("/.well-known/oauth-authorization-server")),
        )
        .await;
    assert_eq!(meta.status, 200, "{:?}", meta.body);
    assert_eq!(meta.body["issuer"], app.base);
    assert_eq!(meta.body["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(meta.body["token_endpoint"], app.url("/token/"));
    assert!(meta.body["response_types_supported"].is_array());
    // The token names this issuer and its audience.
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some(app.base.as_str()), Some(AUD_DFCU))
    );
}

/// Forgeries a holder of the public key could try: HS256 keyed with it, `none`, a key of their
/// own under our key id or theirs, and a token of ours re-addressed to another issuer.
async fn forgeries_with_the_public_key_are_refused(app: TestApp) {
    let genuine = app.access_token(&demo::JAMES).await;
    assert_eq!(
        app.loans(demo::JAMES_ACCOUNT, Some(&genuine)).await.status,
        200
    );
    let now = app.ctx.now();
    let claims = Claims {
        iss: app.base.clone(),
        sub: app.stored(&demo::JAMES).await.id.to_string(),
        aud: AUD_DFCU.into(),
        token_type: TokenType::Access,
        jti: "j".into(),
        iat: now,
        exp: now + 300,
        ver: 0,
        fam: None,
        auth_time: None,
        amr: vec!["pwd".into()],
    };
    let ours = kid_of(&genuine);
    let jwks = app
        .send(app.client.get(app.url("/.well-known/jwks.json")))
        .await;
    let x = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == ours)
        .unwrap()["x"]
        .as_str()
        .unwrap()
        .to_string();
    let public =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &x).unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(ours.clone());
    let hmac_with_public_key = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    let their_kid = acceptance::attacker_signer().sign(&claims);
    let (_, rest) = their_kid.split_once('.').unwrap();
    let our_header = genuine.split('.').next().unwrap();
    let under_our_kid = format!("{our_header}.{rest}");
    let elsewhere = acceptance::test_signer().sign(&Claims {
        iss: "https://attacker.example".into(),
        ..claims.clone()
    });
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(r#"{{"alg":"none","kid":"{ours}"}}"#)
        ),
        genuine.split('.').nth(1).unwrap()
    );
    for (what, token) in [
        ("HS256 keyed with the public key", &hmac_with_public_key),
        ("the attacker's key and kid", &their_kid),
        ("the attacker's signature under our kid", &under_our_kid),
        ("another issuer", &elsewhere),
        ("alg none", &none),
    ] {
        let a = app.loans(demo::JAMES_ACCOUNT, Some(token)).await;
        assert_eq!(a.status, 401, "{what}: {:?}", a.body);
    }
}

/// Rotation twice while tokens are in use: publish, wait a cache lifetime, activate, wait out the
/// longest token, retire. Every request with a token that has not expired succeeds throughout.
async fn two_rotations_sign_nobody_out(app: TestApp) {
    let clock = app.ctx.config.clock.clone();
    let first = app.token("jblunt", demo::JAMES.password).await;
    assert_eq!(first.status, 200);
    let mut refresh = first.body["refresh"].as_str().unwrap().to_string();
    let mut access = first.body["access"].as_str().unwrap().to_string();
    let mut kid = kid_of(&access);
    let ok = |a: &acceptance::Answer, what: &str| assert_eq!(a.status, 200, "{what}: {:?}", a.body);
    for round in 0..2 {
        let said = rotate(&app.ctx, Step::Publish).await.expect("publish");
        assert!(said.contains("published"), "{said}");
        ok(
            &app.loans(demo::JAMES_ACCOUNT, Some(&access)).await,
            "after publish",
        );
        assert!(
            rotate(&app.ctx, Step::Activate).await.is_err(),
            "activated before caches saw it"
        );
        clock.advance(KEY_CACHE_SECS);
        rotate(&app.ctx, Step::Activate).await.expect("activate");
        // The old pair keeps working; a refresh of it is signed by the new key.
        ok(
            &app.loans(demo::JAMES_ACCOUNT, Some(&access)).await,
            "old access after activate",
        );
        let rotated = app.refresh(&refresh).await;
        ok(&rotated, "refresh after activate");
        let new_access = rotated.body["access"].as_str().unwrap().to_string();
        let new_kid = kid_of(&new_access);
        assert_ne!(
            new_kid, kid,
            "round {round}: still signing with the old key"
        );
        // A verifier that never held the new key learns it from the published set.
        ok(
            &app.loans(demo::JAMES_ACCOUNT, Some(&new_access)).await,
            "new access",
        );
        ok(
            &app.loans(demo::JAMES_ACCOUNT, Some(&access)).await,
            "old access beside it",
        );
        refresh = rotated.body["refresh"].as_str().unwrap().to_string();
        assert!(
            rotate(&app.ctx, Step::Retire).await.is_err(),
            "retired while its tokens live"
        );
        // Past every token the old key signed, the client refreshing as it goes.
        let lifetime = app.ctx.config.refresh_ttl.as_secs() as i64;
        clock.advance(lifetime - 60);
        let again = app.refresh(&refresh).await;
        ok(&again, "refresh before retire");
        refresh = again.body["refresh"].as_str().unwrap().to_string();
        clock.advance(KEY_CACHE_SECS + 60);
        let said = rotate(&app.ctx, Step::Retire).await.expect("retire");
        assert!(said.contains(&kid), "{said}");
        let again = app.refresh(&refresh).await;
        ok(&again, "refresh after retire");
        refresh = again.body["refresh"].as_str().unwrap().to_string();
        access = again.body["access"].as_str().unwrap().to_string();
        assert_eq!(kid_of(&access), new_kid);
        ok(
            &app.loans(demo::JAMES_ACCOUNT, Some(&access)).await,
            "after retire",
        );
        let jwks = app
            .send(app.client.get(app.url("/.well-known/jwks.json")))
            .await;
        let kids: Vec<&str> = jwks.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert_eq!(kids, vec![new_kid.as_str()], "round {round}");
        kid = new_kid;
    }
}

/// A partner's check, as README shows it: PyJWT's `PyJWKClient` with only the key set's URL
/// verifies a token from the running gateway, and refuses it tampered with or for another
/// audience.
async fn a_partner_verifies_a_token_with_pyjwt_and_the_key_set_url(app: TestApp) {
    let token = app.access_token(&demo::JAMES).await;
    let check = |token: String, audience: &'static str| {
        let base = app.base.clone();
        async move {
            tokio::process::Command::new(acceptance::moto::python())
                .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("partner_check.py"))
                .args([base, token, audience.to_string()])
                .output()
                .await
                .expect("python with PyJWT (make setup)")
        }
    };
    let out = check(token.clone(), AUD_DFCU).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["sub"], app.stored(&demo::JAMES).await.id.to_string());
    assert_eq!(claims["iss"], app.base);
    // One character of the payload changed.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    let out = check(parts.join("."), AUD_DFCU).await;
    assert!(!out.status.success(), "a tampered token was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(token, "fintract").await;
    assert!(
        !out.status.success(),
        "a DFCU token passed as a Fintract one"
    );
}

acceptance::on_both_backends!(
    the_key_set_and_the_issuer_metadata_are_published,
    forgeries_with_the_public_key_are_refused,
    a_partner_verifies_a_token_with_pyjwt_and_the_key_set_url,
);

/// Access tokens that outlive a cache lifetime, so the same token is used across each step.
async fn long_access(backend: acceptance::Backend) -> TestApp {
    TestApp::spawn_seeded_with(backend, |c| {
        c.access_ttl = std::time::Duration::from_secs(3600);
        c.refresh_ttl = std::time::Duration::from_secs(7200);
    })
    .await
}

mod rotation {
    use super::*;
    acceptance::on_both_backends!(with long_access; two_rotations_sign_nobody_out);
}
