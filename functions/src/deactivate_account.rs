//! `PUT /auth/account-deactivate/`: deactivates the caller's account; every token it holds stops
//! working on the next request, and no flow issues new ones until an admin reactivates it. The
//! account's address is told (`shared::security`).

use serde_json::json;
use shared::http::{json, StatusCode};
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    ctx.keep_a_fintract_admin(&caller).await?;
    ctx.modify_user(caller.id, |user| {
        user.is_active = false;
        user.token_version += 1;
        Ok(())
    })
    .await?;
    ctx.confirm_a_fintract_admin_remains(&caller).await?;
    tracing::info!(user_id = caller.id, "account deactivated");
    ctx.security_notice(
        &req,
        &caller.email,
        shared::security::Event::Deactivated { by_admin: false },
    )
    .await;
    Ok(json(
        StatusCode::OK,
        &json!({"msg": "Account deactivate request submitted!"}),
    ))
}
