//! `POST /auth/login/`: e-mail and password, then a one-time code by e-mail or SMS, or from the
//! account's authenticator app (`otpType: Totp`, nothing sent). Unknown addresses and wrong
//! passwords get the same answer in the same time. The answer adds the attempt's handle
//! (`attempt`, ARCHITECTURE.md §6), with which only this client's tries count against the code.
//! Once an authenticator is on, e-mail and SMS codes are refused: no downgrade.

use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::notify::{Channel, Message};
use shared::password::{self, MAX_PASSWORD_CHARS};
use shared::signin::MAX_DEVICE_TOKEN;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";
pub const NOT_SENT: &str = "The sign-in code could not be sent. Please try again.";
pub const NO_AUTHENTICATOR: &str =
    "This account has no authenticator app: use otpType Email, or turn one on with POST /auth/authenticator/.";
pub const AUTHENTICATOR_ON: &str = "This account signs in with its authenticator app: use otpType Totp, and a code from the app or one of your recovery codes.";
pub const PHONE_NOT_CONFIRMED: &str = "This phone number must be confirmed first: sign in with otpType Email, then POST /auth/phone/ and POST /auth/phone/confirm/ with the code it receives.";

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    ctx.throttle_source("login", &req, 50, 900).await?;
    let mut f = Fields::from_request(&req)?;
    let email = f.email("email", true).unwrap_or_default();
    let password = f.required_secret("password", 4 * MAX_PASSWORD_CHARS);
    let mut by_app = false;
    let channel = match f.required_str("otpType", 16).to_ascii_lowercase().as_str() {
        "email" => Some(Channel::Email),
        "phone" | "sms" => Some(Channel::Sms),
        "totp" => {
            by_app = true;
            None
        }
        "" => None,
        _ => {
            f.problem("otpType", "Must be Email, Phone or Totp.");
            None
        }
    };
    let _user_type = f.optional_str("userType", 32);
    let device = f.optional_str("device", MAX_DEVICE_TOKEN);
    f.finish()?;
    let channel = channel.unwrap_or(Channel::Email);

    let user = ctx
        .unless_expired(ctx.store.user_by_email(&email).await?)
        .await?;
    let attempt = ctx
        .count_password_attempt(user.as_ref(), &email, device.as_deref())
        .await?;
    let matches = password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let user = match user {
        Some(u) if matches => u,
        _ => return Err(ApiError::unauthorized(INVALID_CREDENTIALS)),
    };
    let known_device = attempt.known_device();
    ctx.password_was_right(attempt).await;
    // Past this point the caller knows the password: saying why is no leak.
    if !user.is_active {
        return Err(ApiError::forbidden("This account is deactivated."));
    }
    if !user.is_verified {
        return Err(ApiError::forbidden(
            "Verify your e-mail address before signing in.",
        ));
    }
    if by_app {
        if user.authenticator.is_none() {
            return Err(ApiError::bad_request(NO_AUTHENTICATOR));
        }
        // From a known device that signed in with the app before, its own budget of app codes.
        let app_device = device
            .as_deref()
            .filter(|_| known_device)
            .map(shared::crypto::sha256_hex)
            .filter(|hash| {
                user.authenticator
                    .as_ref()
                    .is_some_and(|a| a.app_devices.contains(hash))
            });
        let attempt = ctx.new_authenticator_attempt(user.id, app_device.as_deref());
        ctx.store.put_otp(&attempt).await?;
        return Ok(json(
            StatusCode::OK,
            &json!({"data": {"id": user.id, "attempt": attempt.attempt_id}}),
        ));
    }
    if user.authenticator.is_some() {
        return Err(ApiError::bad_request(AUTHENTICATOR_ON));
    }
    if channel == Channel::Sms && user.phone.is_empty() {
        return Err(ApiError::bad_request(
            "This account has no phone number: use otpType Email.",
        ));
    }
    if channel == Channel::Sms && !user.phone_verified {
        return Err(ApiError::bad_request(PHONE_NOT_CONFIRMED));
    }
    // Codes sent per account: only the owner (who knows the password) reaches this budget.
    ctx.throttle("login-codes", &user.id.to_string(), 10, 900)
        .await?;
    let (otp, code) = ctx.new_otp(user.id)?;
    ctx.store.put_otp(&otp).await?;
    let minutes = ctx.config.otp_ttl.as_secs().div_ceil(60);
    let message = match channel {
        Channel::Email => Message {
            channel,
            to: user.email.clone(),
            subject: "Your Fintract sign-in code".into(),
            body: format!(
                "Your sign-in code is {code}.\n\nIt expires in {minutes} minutes and works once. \
                 If you did not try to sign in, someone knows your password: reset it \
                 (POST /auth/password-reset/)."
            ),
        },
        Channel::Sms => Message {
            channel,
            to: user.phone.clone(),
            subject: String::new(),
            body: format!("Fintract sign-in code: {code}. Expires in {minutes} min."),
        },
    };
    if let Err(e) = ctx.notifier.send(&message).await {
        // No usable code may outlive a failed delivery.
        let _ = ctx.store.take_otp(user.id, otp.kind, &otp.attempt_id).await;
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_SENT);
        err.cause = Some(Box::new(e));
        return Err(err);
    }
    Ok(json(
        StatusCode::OK,
        &json!({"data": {"id": user.id, "attempt": otp.attempt_id}}),
    ))
}
