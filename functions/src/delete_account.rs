//! `DELETE /auth/delete/`: removes the caller's account, its avatar and uploads, its uniqueness
//! claims, codes, links and tokens. Running it again after a failure finishes the job.

use serde_json::json;
use shared::http::{json, StatusCode};
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    // The last active Fintract admin may not go: deactivated first, checked after (as two
    // admins deleting themselves at once would otherwise both pass the check).
    ctx.keep_a_fintract_admin(&caller).await?;
    if caller.user_type == shared::model::UserType::FintractAdmin {
        ctx.modify_user(caller.id, |u| {
            u.is_active = false;
            Ok(())
        })
        .await?;
        ctx.confirm_a_fintract_admin_remains(&caller).await?;
    }
    // Objects first, then the records: if this stops half-way the user can still run it again.
    ctx.delete_user_blobs(caller.id).await?;
    ctx.delete_account(caller.id).await?;
    tracing::info!(user_id = caller.id, "account deleted");
    Ok(json(
        StatusCode::OK,
        &json!({"msg": "Account Successfully deleted"}),
    ))
}
