//! `POST /token/`: a username and password (JSON or form) for a refresh/access pair.

use shared::fields::Fields;
use shared::http::json;
use shared::password::{self, MAX_PASSWORD_CHARS};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// The one answer to every bad credential, so that none reveals which part was wrong.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    ctx.throttle_source("token", &req, 50, 900).await?;
    let mut fields = Fields::from_request(&req)?;
    let username = fields.required_str("username", 150);
    let password = fields.required_secret("password", 4 * MAX_PASSWORD_CHARS);
    fields.finish()?;
    // Per account: look-alikes of a name find the same account, so they share its budget.
    ctx.throttle("token", &shared::model::username_key(&username), 10, 900)
        .await?;

    let user = ctx
        .unless_expired(ctx.store.user_by_username(&username).await?)
        .await?;
    // Verify against a dummy hash for unknown users: the answer takes as long either way.
    let matches = password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    match user {
        Some(user) if matches && user.may_hold_tokens() => {
            let issuer = ctx.public_base_url(&req)?;
            let pair = ctx
                .issue_tokens(&issuer, &user, shared::jwt::Earned::Password)
                .await?;
            Ok(json(shared::http::StatusCode::OK, &pair))
        }
        _ => Err(ApiError::unauthorized(INVALID_CREDENTIALS)),
    }
}
