//! Profile read and updates, deactivation and deletion: access rules, mass assignment, BOLA.

use acceptance::{demo, on_both_backends, TestApp};
use serde_json::{json, Value};

fn info_path(id: u64) -> String {
    format!("/auth/info/{id}/")
}

fn update_path(id: u64) -> String {
    format!("/auth/update/usr/{id}/")
}

fn no_secrets(v: &Value) {
    let text = v.to_string().to_lowercase();
    for word in ["password", "otp", "hash", "token_version"] {
        assert!(!text.contains(word), "{word} in {v}");
    }
}

async fn info_serves_the_user_and_admins_and_404s_everyone_else(app: TestApp) {
    let alice = app.new_user("CUSTOMER").await;
    let bob = app.new_user("CUSTOMER").await;
    let alice_token = app.access_of(&alice).await;
    let own = app
        .call("GET", &info_path(alice.id), None, Some(&alice_token))
        .await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    for key in [
        "id",
        "email",
        "avatar",
        "gender",
        "username",
        "name",
        "net_balance",
        "customer-id",
        "verification_status",
        "phone",
        "country",
        "citizenship",
        "national_id",
        "address",
        "bank_name",
    ] {
        assert!(
            own.body.get(key).is_some(),
            "{key} missing from {:?}",
            own.body
        );
    }
    assert_eq!(own.body["email"], alice.email.as_str());
    no_secrets(&own.body);
    let bobs = app
        .call("GET", &info_path(bob.id), None, Some(&alice_token))
        .await;
    let nobodys = app
        .call("GET", &info_path(999_999), None, Some(&alice_token))
        .await;
    assert_eq!(bobs.status, 404);
    assert_eq!(
        (bobs.status, &bobs.body),
        (nobodys.status, &nobodys.body),
        "no existence leak"
    );
    let admin = app.code_token(&demo::BANK_ADMIN).await;
    assert_eq!(
        app.call("GET", &info_path(bob.id), None, Some(&admin))
            .await
            .status,
        200
    );
    assert_eq!(
        app.call("GET", &info_path(bob.id), None, None).await.status,
        401
    );
    assert_eq!(
        app.call("GET", "/auth/info/abc/", None, Some(&admin))
            .await
            .status,
        400
    );
}

async fn a_user_updates_their_profile_but_never_their_role_or_flags(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    // The seed's sample: blanks mean "leave as it is".
    let sample = json!({"username": format!("{}b", user.username), "email": "", "name": "", "phone": "",
        "country": "USA", "citizenship": "", "national_id": "", "address": ""});
    let a = app
        .call("PATCH", &update_path(user.id), Some(&sample), Some(&token))
        .await;
    assert_eq!(
        (a.status, &a.body),
        (200, &json!({"message": "Updated Successfully"}))
    );
    let info = app
        .call("GET", &info_path(user.id), None, Some(&token))
        .await;
    assert_eq!(info.body["country"], "USA");
    assert_eq!(info.body["username"], format!("{}b", user.username));
    assert_eq!(info.body["email"], user.email.as_str());

    for (field, value) in [
        ("user_type", json!("FINTRACT_ADMIN")),
        ("is_verified", json!(true)),
        ("admin_approved", json!(true)),
        ("is_active", json!(true)),
        ("password", json!("new password here")),
        ("customer_id", json!("C003")),
        ("id", json!(1)),
    ] {
        let a = app
            .call(
                "PATCH",
                &update_path(user.id),
                Some(&json!({ field: value, "country": "UG" })),
                Some(&token),
            )
            .await;
        assert_eq!(a.status, 400, "{field}: {:?}", a.body);
        assert_eq!(
            a.body["fields"][field],
            "This field cannot be changed here."
        );
    }
    let info = app
        .call("GET", &info_path(user.id), None, Some(&token))
        .await;
    assert_eq!(
        info.body["country"], "USA",
        "a refused update changes nothing"
    );
    assert_eq!(info.body["user_type"], "CUSTOMER");
    assert_eq!(info.body["admin_approved"], false);
    let a = app.loans(demo::JAMES_ACCOUNT, Some(&token)).await;
    assert_eq!(a.status, 403);
}

async fn another_users_profile_cannot_be_updated(app: TestApp) {
    let alice = app.new_user("CUSTOMER").await;
    let bob = app.new_user("CUSTOMER").await;
    let token = app.access_of(&alice).await;
    let a = app
        .call(
            "PATCH",
            &update_path(bob.id),
            Some(&json!({"country": "XX"})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 404);
    let admin = app.code_token(&demo::ADMIN).await;
    let a = app
        .call(
            "PATCH",
            &update_path(bob.id),
            Some(&json!({"country": "KE"})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200);
    let info = app
        .call("GET", &info_path(bob.id), None, Some(&admin))
        .await;
    assert_eq!(info.body["country"], "KE");
}

async fn a_new_email_is_used_only_once_verified(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    let new_email = format!("{}@example.org", acceptance::unique("moved"));
    let a = app
        .call(
            "PATCH",
            &update_path(user.id),
            Some(&json!({"email": new_email, "current_password": user.password})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let info = app
        .call("GET", &info_path(user.id), None, Some(&token))
        .await;
    assert_eq!(
        info.body["email"],
        user.email.as_str(),
        "the old address stays until verified"
    );
    assert_eq!(info.body["pending_email"], new_email.as_str());
    assert_eq!(
        app.login(&new_email, &user.password, "Email").await.status,
        401
    );
    let link = app.link_sent_to(&new_email).await;
    assert_eq!(app.send(app.client.get(app.url(&link))).await.status, 200);
    let info = app
        .call("GET", &info_path(user.id), None, Some(&token))
        .await;
    assert_eq!(info.body["email"], new_email.as_str());
    assert_eq!(
        app.login(&new_email, &user.password, "Email").await.status,
        200
    );
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        401
    );
    // Someone else's address is refused outright.
    let other = app.new_user("CUSTOMER").await;
    let a = app
        .call(
            "PATCH",
            &update_path(user.id),
            Some(&json!({"email": other.email, "current_password": user.password})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body["fields"]["email"],
        "A user with that email already exists."
    );
}

async fn username_and_name_update_keeps_usernames_unique(app: TestApp) {
    let alice = app.new_user("CUSTOMER").await;
    let bob = app.new_user("CUSTOMER").await;
    let token = app.access_of(&alice).await;
    let renamed = format!("{}-renamed", alice.username);
    let a = app
        .call(
            "PUT",
            "/auth/user-update/",
            Some(&json!({"username": renamed, "name": "Alice B"})),
            Some(&token),
        )
        .await;
    assert_eq!(
        (a.status, &a.body),
        (200, &json!({"msg": "Account Successfully Updated"}))
    );
    assert_eq!(app.token(&renamed, &alice.password).await.status, 200);
    assert_eq!(
        app.token(&alice.username, &alice.password).await.status,
        401,
        "the old username is released"
    );
    let a = app
        .call(
            "PUT",
            "/auth/user-update/",
            Some(&json!({"username": bob.username, "name": "X"})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body["fields"]["username"],
        "A user with that username already exists."
    );
    let a = app
        .call(
            "PUT",
            "/auth/user-update/",
            Some(&json!({"username": "only-username"})),
            Some(&token),
        )
        .await;
    assert_eq!(a.body["fields"]["name"], "This field is required.");
    // The released username can be taken by someone else.
    let mut body = app.registration("CUSTOMER");
    body["username"] = json!(alice.username);
    assert_eq!(app.register(&body, None).await.status, 201);
}

async fn a_deactivated_account_loses_every_token_until_an_admin_reactivates_it(app: TestApp) {
    let user = app.new_user("CUSTOMER").await;
    let (access, refresh) = app.session(&user).await;
    let a = app
        .call("PUT", "/auth/account-deactivate/", None, Some(&access))
        .await;
    assert_eq!(
        (a.status, &a.body),
        (
            200,
            &json!({"msg": "Account deactivate request submitted!"})
        )
    );
    assert_eq!(
        app.call("GET", &info_path(user.id), None, Some(&access))
            .await
            .status,
        401
    );
    assert_eq!(app.refresh(&refresh).await.status, 401);
    assert_eq!(app.token(&user.username, &user.password).await.status, 401);
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!((a.status, a.error()), (403, "This account is deactivated."));
    assert_eq!(
        app.post_json(
            "/auth/re-verify-email/",
            &json!({"email": user.email}),
            None
        )
        .await
        .status,
        201
    );

    let admin = app.code_token(&demo::ADMIN).await;
    let a = app
        .call(
            "PATCH",
            &update_path(user.id),
            Some(&json!({"is_active": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        app.login(&user.email, &user.password, "Email").await.status,
        200
    );
    assert_eq!(
        app.call("GET", &info_path(user.id), None, Some(&access))
            .await
            .status,
        401,
        "old tokens stay dead"
    );
    // An admin can deactivate too, and the user's tokens die at once.
    let fresh = app.access_of(&user).await;
    let a = app
        .call(
            "PATCH",
            &update_path(user.id),
            Some(&json!({"is_active": false})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        app.call("GET", &info_path(user.id), None, Some(&fresh))
            .await
            .status,
        401
    );
}

async fn deleting_an_account_removes_it_and_frees_its_names(app: TestApp) {
    let user = app.new_user("DEVELOPER").await;
    let (access, refresh) = app.session(&user).await;
    let a = app
        .call("DELETE", "/auth/delete/", None, Some(&access))
        .await;
    assert_eq!(
        (a.status, &a.body),
        (200, &json!({"msg": "Account Successfully deleted"}))
    );
    assert_eq!(
        app.call("DELETE", "/auth/delete/", None, Some(&access))
            .await
            .status,
        401
    );
    assert_eq!(app.refresh(&refresh).await.status, 401);
    let a = app.login(&user.email, &user.password, "Email").await;
    assert_eq!((a.status, a.error()), (401, "Invalid email or password."));
    let admin = app.code_token(&demo::ADMIN).await;
    assert_eq!(
        app.call("GET", &info_path(user.id), None, Some(&admin))
            .await
            .status,
        404
    );
    assert!(app.ctx.store.user(user.id).await.unwrap().is_none());
    let mut again = app.registration("DEVELOPER");
    again["email"] = json!(user.email);
    again["username"] = json!(user.username);
    let a = app.register(&again, None).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_ne!(a.body["id"], json!(user.id), "ids are never reused");
}

on_both_backends!(
    info_serves_the_user_and_admins_and_404s_everyone_else,
    a_user_updates_their_profile_but_never_their_role_or_flags,
    another_users_profile_cannot_be_updated,
    a_new_email_is_used_only_once_verified,
    username_and_name_update_keeps_usernames_unique,
    a_deactivated_account_loses_every_token_until_an_admin_reactivates_it,
    deleting_an_account_removes_it_and_frees_its_names,
);
