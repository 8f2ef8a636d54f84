//! `POST /token/refresh/`: a live refresh token for a new pair; the old one is spent.

use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let mut fields = Fields::from_request(&req)?;
    let refresh = fields.required_secret("refresh", 4096);
    fields.finish()?;
    let issuer = ctx.public_base_url(&req)?;
    let pair = ctx.rotate(&issuer, &refresh).await?;
    Ok(json(StatusCode::OK, &pair))
}
