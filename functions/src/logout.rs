//! `POST /auth/logout/` ends the login the access token belongs to, and `POST /auth/logout-all/`
//! every login of the account (or, with `user_id`, of a user the caller may deactivate): their
//! access tokens stop on their next use and their refresh tokens can no longer be rotated
//! (`shared::sessions`).

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::roles::{allowed, refused, Action};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

pub const SIGNED_OUT: &str = "Signed out.";
pub const ALL_SIGNED_OUT: &str = "Every session of the account has ended.";
pub const NO_SESSION: &str =
    "This token belongs to no session that can be ended alone: use POST /auth/logout-all/.";

/// `POST /auth/logout/`: ends this login at once.
#[tracing::instrument(skip_all)]
pub async fn logout(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let (user, claims) = ctx.authenticate_with_claims(&req).await?;
    let family = claims
        .fam
        .clone()
        .ok_or_else(|| ApiError::bad_request(NO_SESSION))?;
    ctx.end_session(&user, &family).await?;
    tracing::info!(user_id = user.id, "signed out");
    Ok(json(StatusCode::OK, &json!({ "message": SIGNED_OUT })))
}

/// `POST /auth/logout-all/`: ends every login of the caller's account, or with `{"user_id"}` of
/// an account the caller may deactivate (ARCHITECTURE.md §5).
#[tracing::instrument(skip_all)]
pub async fn logout_all(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let mut f = Fields::from_request_or_empty(&req)?;
    let target_id = f.optional_u64("user_id");
    f.finish()?;
    let target = match target_id {
        None => caller.clone(),
        Some(id) if id == caller.id => caller.clone(),
        Some(id) => {
            let target = ctx
                .store
                .user(id)
                .await?
                .ok_or_else(ApiError::user_not_found)?;
            if !allowed(&caller, Action::Deactivate, &target) {
                return Err(refused(&caller, Action::Deactivate, &target));
            }
            target
        }
    };
    ctx.end_every_session(target.id).await?;
    tracing::info!(user_id = target.id, by = caller.id, "every session ended");
    Ok(json(StatusCode::OK, &json!({ "message": ALL_SIGNED_OUT })))
}
