//! `POST /auth/login/{id}/`: the one-time code of the latest login attempt for a token pair,
//! judged against the attempt's own budget when the attempt's handle comes with it (`attempt`),
//! else against the open budget (`otp.rs`). The answer adds a device token (`signin.rs`).

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, path_id, StatusCode};
use shared::otp::INVALID_CODE;
use shared::signin::MAX_DEVICE_TOKEN;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    ctx.throttle_source("otp", &req, 50, 900).await?;
    let id = path_id(&req, "id")?;
    let mut f = Fields::from_request(&req)?;
    let code = f.required_str("otp", 16);
    let handle = f.optional_str("attempt", 64);
    let device = f.optional_str("device", MAX_DEVICE_TOKEN);
    let six_digits = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    if !code.is_empty() && !six_digits {
        f.problem("otp", "Must be the 6-digit code.");
    }
    f.finish()?;
    let source = shared::http::source_ip(&req);
    ctx.redeem_otp(id, &code, handle.as_deref(), source.as_deref())
        .await?;
    let user = ctx
        .store
        .user(id)
        .await?
        .filter(|u| u.may_hold_tokens())
        .ok_or_else(|| ApiError::unauthorized(INVALID_CODE))?;
    let tokens = ctx
        .sign_in(&req, &user, shared::jwt::Earned::PasswordAndCode)
        .await?;
    let device = ctx.device_token(device.as_deref(), &user).await;
    if let Err(e) = ctx
        .modify_user(id, |u| {
            u.last_login = Some(ctx.now());
            Ok(())
        })
        .await
    {
        tracing::warn!(user_id = id, error = ?e, "last_login not recorded");
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "message": "Successfully Logged In",
            "id": user.id,
            "customer_id": user.customer_id,
            "email": user.email,
            "username": user.username,
            "verification_status": user.is_verified,
            "tokens": tokens,
            "user_type": user.user_type,
            "device": device,
        }),
    ))
}
