//! `POST /auth/login/{id}/`: the one-time code of the latest login attempt for a token pair,
//! judged against the attempt's own budget when the attempt's handle comes with it (`attempt`),
//! else against the open budget (`otp.rs`). The answer adds a device token (`signin.rs`).
//! An attempt begun with `otpType: Totp` takes a code from the authenticator app or a recovery
//! code; a mailed or texted code no longer signs in an account whose authenticator is on.

use serde_json::json;
use shared::authenticator::{is_app_code, is_recovery_code, Accepted};
use shared::fields::Fields;
use shared::http::{json, path_id, StatusCode};
use shared::otp::{Redeemed, INVALID_CODE};
use shared::security::Event;
use shared::signin::MAX_DEVICE_TOKEN;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    ctx.throttle_source("otp", &req, 50, 900).await?;
    let id = path_id(&req, "id")?;
    let mut f = Fields::from_request(&req)?;
    let code = f.required_str("otp", 16);
    // An empty handle is no handle: the client sent the field but never got one.
    let handle = f.optional_str("attempt", 64).filter(|h| !h.is_empty());
    let device = f.optional_str("device", MAX_DEVICE_TOKEN);
    if !code.is_empty() && !is_app_code(&code) && !is_recovery_code(&code) {
        f.problem("otp", "Must be the 6-digit code, or a recovery code.");
    }
    f.finish()?;
    let source = shared::http::source_ip(&req);
    let redeemed = ctx
        .redeem_otp(id, &code, handle.as_deref(), source.as_deref())
        .await?;
    let user = ctx
        .store
        .user(id)
        .await?
        .filter(|u| u.may_hold_tokens())
        // A code mailed before the authenticator was turned on is no way around it.
        .filter(|u| redeemed != Redeemed::SentCode || u.authenticator.is_none())
        .ok_or_else(|| ApiError::unauthorized(INVALID_CODE))?;
    let tokens = ctx
        .sign_in(&req, &user, shared::jwt::Earned::PasswordAndCode)
        .await?;
    if let Redeemed::Authenticator(Accepted::Recovery { left }) = redeemed {
        ctx.security_notice(&req, &user.email, Event::RecoveryCodeUsed { left })
            .await;
    }
    let device = ctx
        .device_token(&req, device.as_deref(), None, &user, "with a sign-in code")
        .await;
    // A device that signed in with the app earns a budget of app codes of its own.
    let app_device = device
        .as_deref()
        .filter(|_| matches!(redeemed, Redeemed::Authenticator(_)))
        .map(shared::crypto::sha256_hex);
    if let Err(e) = ctx
        .modify_user(id, |u| {
            u.last_login = Some(ctx.now());
            if let (Some(hash), Some(app)) = (&app_device, u.authenticator.as_mut()) {
                app.remember_app_device(hash.clone());
            }
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
