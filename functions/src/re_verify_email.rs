//! `POST /auth/re-verify-email/`: a new verification link. The answer is the same whether or not
//! the address belongs to anyone; attempts are throttled per address and per source.

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let base_url = ctx.public_base_url(&req)?;
    ctx.throttle_source("re-verify", &req, 20, 3600).await?;
    let mut f = Fields::from_request(&req)?;
    let email = f.email("email", true).unwrap_or_default();
    f.finish()?;
    // Counted for every address, known or not, so the limit itself reveals nothing.
    ctx.throttle("re-verify", &email, 3, 3600).await?;
    let user = ctx
        .unless_expired(ctx.store.user_by_email(&email).await?)
        .await?;
    let target =
        user.filter(|u| u.is_active)
            .and_then(|u| match (&u.pending_email, u.is_verified) {
                (Some(pending), _) => Some((u.id, pending.clone())),
                (None, false) => Some((u.id, u.email.clone())),
                (None, true) => None,
            });
    if let Some((id, address)) = target {
        if let Err(e) = ctx.send_verification(&base_url, id, &address).await {
            tracing::error!(user_id = id, error = ?e, "verification e-mail not sent");
        }
    }
    Ok(json(
        StatusCode::CREATED,
        &json!({"message": "New token sent"}),
    ))
}
