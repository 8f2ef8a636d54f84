//! `POST /token/`: a username and password (JSON or form) for a refresh/access pair, and the
//! device token of a known device (`device`, ARCHITECTURE.md §6) to send on later sign-ins.

use serde_json::json;
use shared::fields::Fields;
use shared::http::json;
use shared::password::{self, MAX_PASSWORD_CHARS};
use shared::signin::MAX_DEVICE_TOKEN;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// The one answer to every bad credential, so that none reveals which part was wrong.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    ctx.throttle_source("token", &req, 50, 900).await?;
    let mut fields = Fields::from_request(&req)?;
    let username = fields.required_str("username", 150);
    let password = fields.required_secret("password", 4 * MAX_PASSWORD_CHARS);
    let device = fields.optional_str("device", MAX_DEVICE_TOKEN);
    fields.finish()?;

    let user = ctx
        .unless_expired(ctx.store.user_by_username(&username).await?)
        .await?;
    // Per account, on every sign-in path: look-alikes of a name find the same account.
    let attempt = ctx
        .count_password_attempt(
            user.as_ref(),
            &shared::model::username_key(&username),
            device.as_deref(),
        )
        .await?;
    // Verify against a dummy hash for unknown users: the answer takes as long either way.
    let matches = password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let known_device = attempt.known_device();
    if matches {
        ctx.password_was_right(attempt).await;
    }
    match user {
        Some(user) if matches && user.may_hold_tokens() => {
            let pair = ctx
                .sign_in(&req, &user, shared::jwt::Earned::Password)
                .await?;
            let device = ctx
                .device_token(
                    &req,
                    device.as_deref(),
                    Some(known_device),
                    &user,
                    "POST /token/",
                )
                .await;
            Ok(json(
                shared::http::StatusCode::OK,
                &json!({"refresh": pair.refresh, "access": pair.access, "device": device}),
            ))
        }
        _ => Err(ApiError::unauthorized(INVALID_CREDENTIALS)),
    }
}
