//! `POST /auth/phone/` and `POST /auth/phone/confirm/`: the signed-in user confirms their phone
//! number with a code sent to it by SMS. Until then the number receives no sign-in codes
//! (`otpType: Phone` is refused); a change of number through `PATCH` makes it unconfirmed again.
//! Codes are bound to the number they were sent to, and every text is budgeted per account and
//! per source (ARCHITECTURE.md §6).

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::notify::{Channel, Message};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// Confirmation texts per account and per source address in an hour.
pub const TEXTS_PER_ACCOUNT: u64 = 3;
pub const TEXTS_PER_SOURCE: u64 = 20;
const WINDOW_SECS: i64 = 3600;

pub const NO_PHONE: &str =
    "This account has no phone number: add one with PATCH /auth/update/usr/{id}/ first.";
pub const ALREADY_CONFIRMED: &str = "This phone number is already confirmed.";
pub const SENT: &str = "A confirmation code was sent to your phone number.";
pub const CONFIRMED: &str = "Your phone number is confirmed.";
pub const NOT_SENT: &str = "The confirmation code could not be sent. Please try again.";
pub const WRONG_CODE: &str = "Invalid or expired code.";

/// `POST /auth/phone/`: texts a confirmation code to the caller's phone number.
#[tracing::instrument(skip_all)]
pub async fn send_code(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let user = ctx.authenticate(&req).await?;
    if user.phone.is_empty() {
        return Err(ApiError::bad_request(NO_PHONE));
    }
    if user.phone_verified {
        return Ok(json(
            StatusCode::OK,
            &json!({"message": ALREADY_CONFIRMED, "phone_verified": true}),
        ));
    }
    ctx.throttle(
        "phone-code",
        &user.id.to_string(),
        TEXTS_PER_ACCOUNT,
        WINDOW_SECS,
    )
    .await?;
    ctx.throttle_source("phone-code", &req, TEXTS_PER_SOURCE, WINDOW_SECS)
        .await?;
    let (record, code) = ctx.new_phone_code(user.id, &user.phone)?;
    ctx.store.put_otp(&record).await?;
    let minutes = ctx.config.otp_ttl.as_secs().div_ceil(60);
    let message = Message {
        channel: Channel::Sms,
        to: user.phone.clone(),
        subject: String::new(),
        body: format!(
            "Fintract code to confirm this number: {code}. Expires in {minutes} min. \
             Not you? Ignore this message."
        ),
    };
    if let Err(e) = ctx.notifier.send(&message).await {
        let _ = ctx
            .store
            .take_otp(user.id, record.kind, &record.attempt_id)
            .await;
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_SENT);
        err.cause = Some(Box::new(e));
        return Err(err);
    }
    Ok(json(
        StatusCode::OK,
        &json!({"message": SENT, "phone_verified": false}),
    ))
}

/// `POST /auth/phone/confirm/` with `{"code"}`: confirms the caller's number if the code is the
/// one last sent to that very number (five tries, once).
#[tracing::instrument(skip_all)]
pub async fn confirm(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let user = ctx.authenticate(&req).await?;
    let mut f = Fields::from_request(&req)?;
    let code = f.required_str("code", 16);
    let six_digits = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    if !code.is_empty() && !six_digits {
        f.problem("code", "Must be the 6-digit code.");
    }
    f.finish()?;
    if user.phone.is_empty() {
        return Err(ApiError::bad_request(NO_PHONE));
    }
    if !ctx.redeem_phone_code(user.id, &user.phone, &code).await? {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("code".to_string(), WRONG_CODE.to_string());
        return Err(ApiError::invalid_fields(fields));
    }
    let phone = user.phone.clone();
    ctx.modify_user(user.id, |u| {
        // Only the number the code went to: a change meanwhile confirms nothing.
        if u.phone != phone {
            let mut fields = std::collections::BTreeMap::new();
            fields.insert("code".to_string(), WRONG_CODE.to_string());
            return Err(ApiError::invalid_fields(fields));
        }
        u.phone_verified = true;
        Ok(())
    })
    .await?;
    tracing::info!(user_id = user.id, "phone number confirmed");
    Ok(json(
        StatusCode::OK,
        &json!({"message": CONFIRMED, "phone_verified": true}),
    ))
}
