//! `PUT /auth/user-update/`: the caller's username and name, both required.

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::validate::username_problem;
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let mut f = Fields::from_request(&req)?;
    let username = f.required_str("username", 150);
    if !username.is_empty() {
        if let Some(problem) = username_problem(&username) {
            f.problem("username", problem);
        }
    }
    let name = f.required_str("name", 150);
    f.finish()?;
    ctx.modify_user(caller.id, |user| {
        user.username = username.clone();
        user.name = name.clone();
        Ok(())
    })
    .await?;
    Ok(json(
        StatusCode::OK,
        &json!({"msg": "Account Successfully Updated"}),
    ))
}
