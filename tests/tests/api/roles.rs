//! Who may act on whom, cell by cell of `shared::roles`: every acting role on every target role,
//! for reading, changing, deactivating, reactivating, approving and creating; and the deployment
//! never left without an active Fintract admin.

use acceptance::{demo, on_both_backends, TestApp, TestUser};
use serde_json::json;
use shared::model::UserType;
use shared::roles::{allowed, may, Action, LAST_FINTRACT_ADMIN, ROLES};

/// The status an actor gets for an action the table refuses: 404 where it may not even see the
/// target (no existence leak), 403 where it may.
fn refusal(actor: UserType, target: UserType) -> u16 {
    if may(actor, Action::Read, target) {
        403
    } else {
        404
    }
}

async fn every_role_acts_on_every_other_role_exactly_as_the_table_says(app: TestApp) {
    let mut actors = Vec::new();
    for role in ROLES {
        let user = app.account_of(role).await;
        let (token, _) = app.session(&user).await;
        actors.push((role, token));
    }
    for (actor, token) in &actors {
        for target in ROLES {
            let cell = |action| format!("{actor:?} {action:?} {target:?}");
            let bearer = Some(token.as_str());
            let victim = app.account_of(target).await;
            let info = format!("/auth/info/{}/", victim.id);
            let update = format!("/auth/update/usr/{}/", victim.id);

            let a = app.call("GET", &info, None, bearer).await;
            let want = if may(*actor, Action::Read, target) {
                200
            } else {
                404
            };
            assert_eq!(a.status, want, "{}: {:?}", cell(Action::Read), a.body);

            let body = json!({"address": "Plot 9, Jinja"});
            let a = app.call("PATCH", &update, Some(&body), bearer).await;
            let want = if may(*actor, Action::Change, target) {
                200
            } else {
                refusal(*actor, target)
            };
            assert_eq!(a.status, want, "{}: {:?}", cell(Action::Change), a.body);

            let off = json!({"is_active": false});
            let a = app.call("PATCH", &update, Some(&off), bearer).await;
            let deactivated = may(*actor, Action::Deactivate, target);
            let want = if deactivated {
                200
            } else {
                refusal(*actor, target)
            };
            assert_eq!(a.status, want, "{}: {:?}", cell(Action::Deactivate), a.body);
            let stored = app.ctx.store.user(victim.id).await.unwrap().unwrap();
            assert_eq!(
                stored.is_active,
                !deactivated,
                "{}",
                cell(Action::Deactivate)
            );

            // Reactivation is tried on an account someone allowed to had deactivated.
            let mut inactive = stored.clone();
            inactive.is_active = false;
            app.ctx.store.update_user(&stored, &inactive).await.unwrap();
            let on = json!({"is_active": true});
            let a = app.call("PATCH", &update, Some(&on), bearer).await;
            let reactivated = may(*actor, Action::Reactivate, target);
            let want = if reactivated {
                200
            } else {
                refusal(*actor, target)
            };
            assert_eq!(a.status, want, "{}: {:?}", cell(Action::Reactivate), a.body);
            let stored = app.ctx.store.user(victim.id).await.unwrap().unwrap();
            assert_eq!(
                stored.is_active,
                reactivated,
                "{}",
                cell(Action::Reactivate)
            );

            let created = app
                .register(&app.registration(target.as_str()), bearer)
                .await;
            let want = if may(*actor, Action::Create, target) {
                201
            } else {
                403
            };
            assert_eq!(
                created.status,
                want,
                "{}: {:?}",
                cell(Action::Create),
                created.body
            );
        }
        // Approval binds a customer's claim; nobody but a Fintract admin may.
        let claimant = app.account_of(UserType::Customer).await;
        let a = app
            .post_json(
                "/auth/admin_approval/",
                &json!({"customer_id": claimant.customer_id}),
                Some(token),
            )
            .await;
        let want = if may(*actor, Action::Approve, UserType::Customer) {
            200
        } else {
            403
        };
        assert_eq!(a.status, want, "{actor:?} Approve Customer: {:?}", a.body);
    }
}

/// Everyone reads and changes their own profile, and nobody their own role or `is_active`.
async fn everyone_changes_their_own_profile_but_not_their_role_or_standing(app: TestApp) {
    for role in ROLES {
        let user = app.account_of(role).await;
        let (token, _) = app.session(&user).await;
        let me = Some(token.as_str());
        let update = format!("/auth/update/usr/{}/", user.id);
        let a = app
            .call("GET", &format!("/auth/info/{}/", user.id), None, me)
            .await;
        assert_eq!(a.status, 200, "{role:?} reads self");
        let a = app
            .call("PATCH", &update, Some(&json!({"name": "Renamed"})), me)
            .await;
        assert_eq!(a.status, 200, "{role:?} changes self");
        for field in [
            json!({"is_active": false}),
            json!({"user_type": "FINTRACT_ADMIN"}),
        ] {
            let a = app.call("PATCH", &update, Some(&field), me).await;
            assert_eq!(a.status, 400, "{role:?} {field}: {:?}", a.body);
        }
        let stored = app.ctx.store.user(user.id).await.unwrap().unwrap();
        assert!(stored.is_active && stored.user_type == role);
        assert!(allowed(&stored, Action::Change, &stored));
    }
}

/// The numbered attack: a BANK_ADMIN deactivated a FINTRACT_ADMIN and changed admins' details.
async fn a_bank_admin_cannot_lock_out_or_change_a_fintract_admin(app: TestApp) {
    let teller = app.code_token(&demo::BANK_ADMIN).await;
    let admin = app.stored(&demo::ADMIN).await;
    let update = format!("/auth/update/usr/{}/", admin.id);
    for body in [
        json!({"is_active": false}),
        json!({"email": "teller-owns-this@example.com"}),
        json!({"phone": "+256799999999", "username": "not-the-admin"}),
    ] {
        let a = app.call("PATCH", &update, Some(&body), Some(&teller)).await;
        assert_eq!(a.status, 404, "{body}: {:?}", a.body);
    }
    let after = app.ctx.store.user(admin.id).await.unwrap().unwrap();
    assert_eq!(after, admin, "nothing changed");
    assert_eq!(
        app.token(demo::ADMIN.username, demo::ADMIN.password)
            .await
            .status,
        200
    );
}

async fn the_last_active_fintract_admin_stays(app: TestApp) {
    let admin = app.code_token(&demo::ADMIN).await;
    for (method, path) in [
        ("PUT", "/auth/account-deactivate/"),
        ("DELETE", "/auth/delete/"),
    ] {
        let a = app.call(method, path, None, Some(&admin)).await;
        assert_eq!(
            (a.status, a.error()),
            (409, LAST_FINTRACT_ADMIN),
            "{method} {path}"
        );
    }
    let second: TestUser = app.account_of(UserType::FintractAdmin).await;
    let update = format!("/auth/update/usr/{}/", second.id);
    let off = app
        .call(
            "PATCH",
            &update,
            Some(&json!({"is_active": false})),
            Some(&admin),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    // The second is inactive now: the first is the last again.
    let a = app
        .call("PUT", "/auth/account-deactivate/", None, Some(&admin))
        .await;
    assert_eq!(a.status, 409);
    let on = app
        .call(
            "PATCH",
            &update,
            Some(&json!({"is_active": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(on.status, 200, "{:?}", on.body);
    let a = app
        .call("PUT", "/auth/account-deactivate/", None, Some(&admin))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // And the one left may not leave either.
    let (left, _) = app.session(&second).await;
    let a = app.call("DELETE", "/auth/delete/", None, Some(&left)).await;
    assert_eq!(a.status, 409);
}

/// Two admins deactivating each other at the same moment: both checks pass before either write,
/// yet afterwards an active FINTRACT_ADMIN remains, every time.
async fn two_admins_deactivating_each_other_at_once_leave_one_active(app: TestApp) {
    let demo_admin = app.stored(&demo::ADMIN).await;
    let other = app.account_of(UserType::FintractAdmin).await;
    for round in 0..5 {
        // Fresh sign-ins: a deactivation in the round before revoked the tokens.
        let first = app.code_token(&demo::ADMIN).await;
        let second = app.session(&other).await.0;
        let off = json!({"is_active": false});
        let path_a = format!("/auth/update/usr/{}/", other.id);
        let path_b = format!("/auth/update/usr/{}/", demo_admin.id);
        let (a, b) = tokio::join!(
            app.call("PATCH", &path_a, Some(&off), Some(&first)),
            app.call("PATCH", &path_b, Some(&off), Some(&second)),
        );
        let active = app
            .ctx
            .store
            .staff_of_type(UserType::FintractAdmin)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.is_active)
            .count();
        assert!(active >= 1, "round {round}: {} and {}", a.status, b.status);
        // Put both back for the next round (through the store: their tokens may be dead).
        for id in [demo_admin.id, other.id] {
            let u = app.ctx.store.user(id).await.unwrap().unwrap();
            let on = shared::model::User {
                is_active: true,
                ..u.clone()
            };
            app.ctx.store.update_user(&u, &on).await.unwrap();
        }
        assert!(
            a.status != 200 || b.status != 200,
            "round {round}: both deactivations answered 200"
        );
    }
}

/// Many sign-ins and registrations from one address in one test.
async fn roomy(backend: acceptance::Backend) -> TestApp {
    TestApp::spawn_seeded_with(backend, |c| c.throttle_multiplier = 50).await
}

on_both_backends!(
    a_bank_admin_cannot_lock_out_or_change_a_fintract_admin,
    the_last_active_fintract_admin_stays,
);

mod race {
    use super::*;
    on_both_backends!(with roomy; two_admins_deactivating_each_other_at_once_leave_one_active);
}

mod table {
    use super::*;
    on_both_backends!(with roomy;
        every_role_acts_on_every_other_role_exactly_as_the_table_says,
        everyone_changes_their_own_profile_but_not_their_role_or_standing,
    );
}
