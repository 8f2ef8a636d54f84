//! `GET /auth/admin_approval/?customer_id=…`: the accounts claiming a bank customer id (bound or
//! pending), for a Fintract admin to look at before approving one with `POST` on the same path.

use serde_json::json;
use shared::claims::claimant;
use shared::fields::Fields;
use shared::http::{json, query_param, StatusCode};
use shared::validate::is_customer_id;
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    ctx.approver(&req).await?;
    let customer_id = query_param(&req, "customer_id").unwrap_or_default();
    let mut f = Fields::new(Default::default());
    if customer_id.is_empty() {
        f.problem("customer_id", "This field is required.");
    } else if !is_customer_id(&customer_id) {
        f.problem("customer_id", "Use 1 to 32 letters and digits.");
    }
    f.finish()?;
    let claimants = ctx.claimants_of(&customer_id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "customer_id": customer_id,
            "claimants": claimants.iter().map(claimant).collect::<Vec<_>>(),
        }),
    ))
}
