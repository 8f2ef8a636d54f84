//! `GET /auth/verify-email/?token=`: the link from the verification e-mail. Single use; it
//! verifies the address it was sent to, swapping in a pending new address if that is the one.

use lambda_http::RequestExt;
use serde_json::json;
use shared::crypto::sha256_hex;
use shared::http::{json, StatusCode};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

const INVALID_LINK: &str = "Invalid or expired verification link.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let token = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("token"))
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::bad_request(
            "The verification link is missing its token.",
        ));
    }
    let link = ctx
        .store
        .take_verification(&sha256_hex(&token))
        .await?
        .filter(|v| v.expires_at > ctx.now())
        .ok_or_else(|| ApiError::bad_request(INVALID_LINK))?;
    // An account left unverified past its time is gone, even if a link to it survived.
    let holder = ctx.store.user(link.user_id).await?;
    if ctx.unless_expired(holder).await?.is_none() {
        return Err(ApiError::bad_request(INVALID_LINK));
    }
    ctx.modify_user(link.user_id, |user| {
        if user.email == link.email {
            user.is_verified = true;
        } else if user.pending_email.as_deref() == Some(link.email.as_str()) {
            user.email = link.email.clone();
            user.pending_email = None;
            user.is_verified = true;
        } else {
            return Err(ApiError::bad_request(INVALID_LINK));
        }
        Ok(())
    })
    .await
    .map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            ApiError::bad_request(INVALID_LINK)
        } else {
            e
        }
    })?;
    Ok(json(
        StatusCode::OK,
        &json!({"message": "Email successfully verified"}),
    ))
}
