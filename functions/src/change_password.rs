//! `PUT /auth/change-password/`: the signed-in user (with the code) changes their password,
//! giving the current one (`current_password`: a stolen access token alone changes nothing, and
//! its guesses spend a budget of its own login). Every session of the account ends (its token
//! version moves on, dashboard sessions too), every known device is forgotten (`devices_since`)
//! and a pending change of address is dropped; the
//! caller gets a fresh token pair for a new session with the same absolute end as the one it
//! replaces, so only the *other* sessions are signed out and no login is lengthened. The address
//! is told (`shared::security`).

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::password::MAX_PASSWORD_CHARS;
use shared::security::Event;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

pub const CHANGED: &str = "Your password was changed and every other session signed out.";
pub const SAME_PASSWORD: &str = "Must differ from your current password.";
pub const CHANGED_MEANWHILE: &str =
    "The password was changed meanwhile by another session. Sign in again.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let (caller, claims) = ctx.authenticate_with_claims(&req).await?;
    let mut f = Fields::from_request(&req)?;
    let current = f.required_secret("current_password", 4 * MAX_PASSWORD_CHARS);
    let password = f.new_password("password", "password2");
    if !password.is_empty() && password == current {
        f.problem("password", SAME_PASSWORD);
    }
    f.refuse_guessable_password(
        "password",
        &password,
        &[&caller.username, &caller.email, &caller.name, &caller.phone],
    );
    f.finish()?;
    ctx.reauthenticate(&caller, &claims, current).await?;
    let now = ctx.now();
    let hash = shared::password::hash(password)
        .await
        .map_err(ApiError::internal)?;
    let user = ctx
        .modify_user(caller.id, |u| {
            if u.password_hash != caller.password_hash {
                return Err(ApiError::conflict(CHANGED_MEANWHILE));
            }
            u.password_hash = hash.clone();
            u.token_version += 1;
            u.ended_sessions.clear();
            // Devices known before are forgotten, as logout-all forgets them: one that belonged
            // to whoever made the change necessary keeps no budget of its own.
            u.devices_since = now;
            // A change of address begun before (perhaps by whoever made the change necessary)
            // does not survive it.
            u.pending_email = None;
            Ok(())
        })
        .await?;
    tracing::info!(user_id = user.id, "password changed");
    // Told before anything else can fail: the change stands.
    ctx.security_notice(&req, &user.email, Event::PasswordChanged)
        .await;
    // The caller's login goes on as a new session with the same absolute end.
    let since = claims.auth_time.unwrap_or_else(|| ctx.now());
    let tokens = ctx
        .sign_in_again(&req, &user, shared::jwt::Earned::PasswordAndCode, since)
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "message": CHANGED, "tokens": tokens }),
    ))
}
