//! `GET /auth/info/{id}/`: a profile, for that user or an admin; anyone else gets 404.

use shared::http::{json, path_id, StatusCode};
use shared::roles::{allowed, Action};
use shared::views::profile;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let id = path_id(&req, "id")?;
    let user = ctx
        .store
        .user(id)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    if !allowed(&caller, Action::Read, &user) {
        return Err(ApiError::user_not_found());
    }
    let net_balance = ctx.net_balance(&user).await?;
    let avatar = ctx.avatar_url(&user).await?;
    Ok(json(StatusCode::OK, &profile(&user, avatar, net_balance)))
}
