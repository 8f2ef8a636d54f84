//! `POST /auth/admin_approval/`: a FINTRACT_ADMIN approves a customer; their account data is
//! served from the next request on.

use serde_json::json;
use shared::http::{json, Fields, StatusCode};
use shared::model::UserType;
use shared::users::user_not_found;
use shared::validate::is_customer_id;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

shared::route!(
    "admin-approval",
    POST,
    "/auth/admin_approval/",
    handle,
    Code
);

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    if caller.user_type != UserType::FintractAdmin {
        return Err(ApiError::forbidden(
            "Only a Fintract admin can approve users.",
        ));
    }
    let mut f = Fields::from_request(&req)?;
    let customer_id = f.required_str("customer_id", 32);
    if !customer_id.is_empty() && !is_customer_id(&customer_id) {
        f.problem("customer_id", "Use 1 to 32 letters and digits.");
    }
    f.finish()?;
    let user = ctx
        .store
        .user_by_customer_id(&customer_id)
        .await?
        .ok_or_else(user_not_found)?;
    ctx.modify_user(user.id, |u| {
        u.admin_approved = true;
        Ok(())
    })
    .await?;
    tracing::info!(user_id = user.id, approved_by = caller.id, "user approved");
    Ok(json(StatusCode::OK, &json!({"msg": "User admin approved"})))
}
