//! `PUT /auth/user-update/`: the caller's username and name, both required.

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::validate::is_username;
use shared::{ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let mut f = Fields::from_request(&req)?;
    let username = f.required_str("username", 150);
    if !username.is_empty() && !is_username(&username) {
        f.problem(
            "username",
            "Use 3 to 150 letters, digits and @ . + - _ only.",
        );
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
