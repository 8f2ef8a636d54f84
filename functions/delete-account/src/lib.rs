//! `DELETE /auth/delete/`: removes the caller's account, its avatar and uploads, its uniqueness
//! claims, codes, links and tokens. Running it again after a failure finishes the job.

use serde_json::json;
use shared::http::{json, StatusCode};
use shared::{ApiResult, Body, Ctx, Request, Response};

shared::route!("delete-account", DELETE, "/auth/delete/", handle, Code);

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    ctx.keep_a_fintract_admin(&caller).await?;
    // Objects first, then the records: if this stops half-way the user can still run it again.
    ctx.delete_user_blobs(caller.id).await?;
    ctx.store.delete_user(&caller).await?;
    tracing::info!(user_id = caller.id, "account deleted");
    Ok(json(
        StatusCode::OK,
        &json!({"msg": "Account Successfully deleted"}),
    ))
}
