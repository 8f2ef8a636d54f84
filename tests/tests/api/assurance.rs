//! How a token was earned decides where it is accepted: the DFCU password grant (`amr` `pwd`,
//! `aud` `dfcu`) reaches the DFCU routes only; every Fintract route that takes a bearer token
//! needs a sign-in with the one-time code (`amr` `pwd` `otp`), and says so with a 403.

use acceptance::{demo, on_both_backends, TestApp, TestUser};
use serde_json::{json, Value};
use shared::auth::CODE_SIGN_IN_NEEDED;
use shared::route::Assurance;

/// `user`'s access token from `POST /token/` (the password alone).
async fn password_token(app: &TestApp, user: &TestUser) -> String {
    let a = app.token(&user.username, &user.password).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["access"].as_str().unwrap().to_string()
}

async fn a_customers_password_alone_reads_changes_and_deletes_nothing(app: TestApp) {
    let james = app.access_token(&demo::JAMES).await;
    let id = app.stored(&demo::JAMES).await.id;
    let attempts: [(&str, String, Option<Value>); 3] = [
        ("GET", format!("/auth/info/{id}/"), None),
        (
            "PATCH",
            format!("/auth/update/usr/{id}/"),
            Some(json!({"address": "Somewhere the attacker chose"})),
        ),
        ("DELETE", "/auth/delete/".into(), None),
    ];
    for (method, path, body) in attempts {
        let a = app.call(method, &path, body.as_ref(), Some(&james)).await;
        assert_eq!(
            (a.status, a.error()),
            (403, CODE_SIGN_IN_NEEDED),
            "{method} {path} with the password grant"
        );
        assert!(a.body.get("national_id").is_none() && a.body.get("net_balance").is_none());
    }
    let after = app.ctx.store.user(id).await.unwrap().expect("not deleted");
    assert_eq!(after.address, "", "not changed");
    // The DFCU document's own flow keeps working with the same token.
    assert_eq!(
        app.loans(demo::JAMES_ACCOUNT, Some(&james)).await.status,
        200
    );
}

async fn an_admins_password_alone_neither_approves_nor_creates_privileged_users(app: TestApp) {
    let password_only = app.access_token(&demo::ADMIN).await;
    let approve = json!({"customer_id": demo::GRACE.customer_id});
    let a = app
        .post_json("/auth/admin_approval/", &approve, Some(&password_only))
        .await;
    assert_eq!((a.status, a.error()), (403, CODE_SIGN_IN_NEEDED));
    let privileged = app.registration("BANK_ADMIN");
    let a = app.register(&privileged, Some(&password_only)).await;
    assert_eq!((a.status, a.error()), (403, CODE_SIGN_IN_NEEDED));
    let grace = app.ctx.store.user_by_username(demo::GRACE.username).await;
    assert!(!grace.unwrap().unwrap().admin_approved, "approved anyway");

    let with_code = app.code_token(&demo::ADMIN).await;
    let a = app
        .post_json("/auth/admin_approval/", &approve, Some(&with_code))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = app.register(&privileged, Some(&with_code)).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
}

async fn a_refresh_keeps_how_the_sign_in_was_earned(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let info = format!("/auth/info/{}/", user.id);
    let dfcu = app.token(&user.username, &user.password).await;
    let renewed = app.refresh(dfcu.body["refresh"].as_str().unwrap()).await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    let a = app
        .call("GET", &info, None, renewed.body["access"].as_str())
        .await;
    assert_eq!((a.status, a.error()), (403, CODE_SIGN_IN_NEEDED), "raised");

    let (_, refresh) = app.session(&user).await;
    let renewed = app.refresh(&refresh).await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    let a = app
        .call("GET", &info, None, renewed.body["access"].as_str())
        .await;
    assert_eq!(a.status, 200, "lowered: {:?}", a.body);
}

/// A token signed with our key but for an audience that is neither API is no token at all.
async fn a_token_for_another_audience_is_refused_everywhere(app: TestApp) {
    let james = app.stored(&demo::JAMES).await;
    let now = shared::now();
    let foreign = acceptance::test_signer().sign(&shared::jwt::Claims {
        iss: app.base.clone(),
        sub: james.id.to_string(),
        token_type: shared::jwt::TokenType::Access,
        jti: "foreign".into(),
        iat: now,
        exp: now + 300,
        ver: james.token_version,
        fam: None,
        auth_time: None,
        amr: vec!["pwd".into(), "otp".into()],
        aud: "some-partner".into(),
    });
    let a = app.loans(demo::JAMES_ACCOUNT, Some(&foreign)).await;
    assert_eq!((a.status, a.error()), (401, "Invalid Auth Token."));
    let info = format!("/auth/info/{}/", james.id);
    assert_eq!(
        app.call("GET", &info, None, Some(&foreign)).await.status,
        401
    );
}

/// Every route of the registry, called with no token, a password-grant token and a code token
/// of an ordinary customer: each answers as its declared assurance says. The destructive routes
/// get a customer of their own.
async fn every_route_takes_exactly_the_tokens_its_registry_entry_declares(app: TestApp) {
    let mut checked = 0;
    let everyday = app.new_user("CUSTOMER").await;
    for route in functions::routes() {
        let user = match route.function {
            "delete-account" | "deactivate-account" => app.new_user("CUSTOMER").await,
            _ => everyday.clone(),
        };
        let by_password = password_token(&app, &user).await;
        let (by_code, _) = app.session(&user).await;
        let path = route.path.replace("{id}", &user.id.to_string());
        let method = route.method.as_str();
        // A privileged registration is what register takes a bearer token for.
        let body = match route.function {
            "register" => Some(app.registration("BANK_ADMIN")),
            _ if matches!(method, "POST" | "PUT" | "PATCH") => Some(json!({})),
            _ => None,
        };
        let call = |token: Option<String>| {
            let (app, path, body) = (&app, &path, &body);
            async move {
                app.call(method, path, body.as_ref(), token.as_deref())
                    .await
            }
        };
        let label = format!("{method} {path} ({})", route.assurance.as_str());
        match route.assurance {
            Assurance::Public => {
                let none = call(None).await.status;
                for token in [&by_password, &by_code] {
                    let a = call(Some(token.clone())).await;
                    assert_eq!(a.status, none, "{label}: a token changes nothing");
                }
            }
            Assurance::Password => {
                assert_eq!(call(None).await.status, 401, "{label}");
                for token in [&by_password, &by_code] {
                    let a = call(Some(token.clone())).await;
                    assert_ne!(a.status, 401, "{label}: {:?}", a.body);
                    assert_ne!(a.error(), CODE_SIGN_IN_NEEDED, "{label}");
                }
            }
            Assurance::Code => {
                if route.function != "register" {
                    assert_eq!(call(None).await.status, 401, "{label}");
                }
                let a = call(Some(by_password.clone())).await;
                assert_eq!((a.status, a.error()), (403, CODE_SIGN_IN_NEEDED), "{label}");
                let a = call(Some(by_code.clone())).await;
                assert_ne!(a.status, 401, "{label}: {:?}", a.body);
                assert_ne!(a.error(), CODE_SIGN_IN_NEEDED, "{label}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, functions::routes().len());
}

/// An app whose throttles let one test sign in some twenty times from one address.
async fn roomy(backend: acceptance::Backend) -> TestApp {
    TestApp::spawn_seeded_with(backend, |c| c.throttle_multiplier = 20).await
}

on_both_backends!(
    a_customers_password_alone_reads_changes_and_deletes_nothing,
    an_admins_password_alone_neither_approves_nor_creates_privileged_users,
    a_refresh_keeps_how_the_sign_in_was_earned,
    a_token_for_another_audience_is_refused_everywhere,
);

mod every_route {
    use super::*;
    on_both_backends!(with roomy; every_route_takes_exactly_the_tokens_its_registry_entry_declares);
}
