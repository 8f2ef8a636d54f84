//! `POST /auth/authenticator/`, `POST /auth/authenticator/confirm/` and
//! `DELETE /auth/authenticator/`: the signed-in user (with a code) turns an authenticator app
//! on, and off again (`shared::authenticator` holds the codes).
//!
//! - Enrolment needs the caller's password (`current_password`: a stolen access token alone
//!   cannot put an app of its own between the owner and the account). It answers the secret, its
//!   `otpauth://` URI and the same as an SVG QR code, and waits 10 minutes for a first code from
//!   the app, with 5 tries. Starting again replaces it.
//! - The first code turns the app on, answers ten recovery codes, shown this once, and ends
//!   every session (the caller's too: sessions earned with an e-mail code do not outlive the
//!   app). From then on sign-in takes `otpType: Totp` and a code from the app or a recovery code.
//! - Removal needs a current code from the app, or a recovery code, spent in the very write that
//!   removes the app: whoever lost the app signs in with one recovery code and removes the app
//!   with another, then enrols anew. A stolen access token alone removes nothing, and its wrong
//!   codes spend a budget of its own login, as a wrong `current_password` does. An admin who may
//!   deactivate the account removes it with `{"user_id"}` and the admin's own
//!   `current_password`, no code (the owner who lost the app and every recovery code).
//! - `POST /auth/authenticator/recovery-codes/` replaces the recovery codes with ten new ones,
//!   for a current code from the app (never a recovery code), without turning the app off.
//! - Turning on, removal and new recovery codes each tell the account's address
//!   (`shared::security`).

use serde_json::json;
use shared::authenticator::{is_app_code, is_recovery_code, ENROLMENT_TTL_SECS};
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::password::MAX_PASSWORD_CHARS;
use shared::roles::{allowed, refused, Action};
use shared::security::Event;
use shared::signin::password_refusal;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

pub const ALREADY_ON: &str =
    "An authenticator app is already on for this account: remove it first (DELETE /auth/authenticator/).";
pub const NOTHING_PENDING: &str =
    "No enrolment is waiting for a code, or it expired: start again with POST /auth/authenticator/.";
pub const WRONG_CODE: &str = "Invalid or expired code.";
pub const NOT_ON: &str = "This account has no authenticator app.";
pub const ON: &str = "The authenticator app is on. Keep these recovery codes somewhere safe: each signs in once in place of a code from the app, and they are not shown again.";
pub const ADMIN_PASSWORD_NEEDED: &str =
    "Your own current password is needed to remove another user's authenticator app.";
pub const RECOVERY_REPLACED: &str = "New recovery codes: the earlier ones no longer work. Keep these somewhere safe: each signs in once in place of a code from the app, and they are not shown again.";
pub const OFF: &str = "The authenticator app was removed. Sign-in codes go by e-mail or SMS again.";

/// Enrolments started per account an hour.
const ENROLMENTS_PER_HOUR: u64 = 10;

/// The 400 naming `code`.
fn code_refusal(message: &str) -> ApiError {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("code".to_string(), message.to_string());
    ApiError::invalid_fields(fields)
}

/// The `code` field: six digits from the app, or (where `recovery`) a recovery code.
fn code_field(req: &Request, recovery: bool) -> ApiResult<String> {
    let mut f = Fields::from_request(req)?;
    let code = f.required_str("code", 16);
    let well_formed = is_app_code(&code) || (recovery && is_recovery_code(&code));
    if !code.is_empty() && !well_formed {
        f.problem(
            "code",
            match recovery {
                true => "Must be the 6-digit code from the app, or a recovery code.",
                false => "Must be the 6-digit code from the app.",
            },
        );
    }
    f.finish()?;
    Ok(code)
}

/// `POST /auth/authenticator/`: starts an enrolment.
#[tracing::instrument(skip_all)]
pub async fn enrol(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let (user, claims) = ctx.authenticate_with_claims(&req).await?;
    let mut f = Fields::from_request_or_empty(&req)?;
    let password = f.required_secret("current_password", 4 * MAX_PASSWORD_CHARS);
    f.finish()?;
    if user.authenticator.is_some() {
        return Err(ApiError::conflict(ALREADY_ON));
    }
    ctx.reauthenticate(&user, &claims, password).await?;
    ctx.throttle(
        "authenticator-enrol",
        &user.id.to_string(),
        ENROLMENTS_PER_HOUR,
        3600,
    )
    .await?;
    let (pending, shown) = ctx.begin_enrolment(&user)?;
    ctx.modify_user(user.id, |u| {
        if u.authenticator.is_some() {
            return Err(ApiError::conflict(ALREADY_ON));
        }
        u.authenticator_pending = Some(pending.clone());
        Ok(())
    })
    .await?;
    Ok(json(
        StatusCode::OK,
        &json!({"data": {
            "secret": shown.secret,
            "otpauth_uri": shown.uri,
            "qr_svg": shown.qr_svg,
            "expires_in": ENROLMENT_TTL_SECS,
        }}),
    ))
}

/// `POST /auth/authenticator/confirm/` with `{"code"}`: the first code from the app turns it on.
#[tracing::instrument(skip_all)]
pub async fn confirm(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let user = ctx.authenticate(&req).await?;
    let code = code_field(&req, false)?;
    let now = ctx.now();
    // A try is spent (and written) before the code is judged.
    let user = ctx
        .modify_user(user.id, |u| {
            if u.authenticator.is_some() {
                return Err(ApiError::conflict(ALREADY_ON));
            }
            match &mut u.authenticator_pending {
                Some(p) if p.expires_at > now && p.tries_left > 0 => {
                    p.tries_left -= 1;
                    Ok(())
                }
                _ => Err(code_refusal(NOTHING_PENDING)),
            }
        })
        .await?;
    let Some(pending) = user.authenticator_pending.clone() else {
        return Err(code_refusal(NOTHING_PENDING));
    };
    let step = ctx
        .app_code_step(user.id, &pending.secret, &code, None)?
        .ok_or_else(|| code_refusal(WRONG_CODE))?;
    let (on, recovery_codes) = ctx.turn_on(user.id, &pending, step)?;
    ctx.modify_user(user.id, |u| {
        // Only the enrolment the code was judged against.
        if u.authenticator.is_some()
            || u.authenticator_pending.as_ref().map(|p| &p.secret) != Some(&pending.secret)
        {
            return Err(code_refusal(NOTHING_PENDING));
        }
        u.authenticator = Some(on.clone());
        u.authenticator_pending = None;
        // Every session ends: one earned with an e-mail code must not outlive the app.
        u.token_version += 1;
        u.ended_sessions.clear();
        Ok(())
    })
    .await?;
    tracing::info!(user_id = user.id, "authenticator on");
    ctx.security_notice(&req, &user.email, Event::AuthenticatorOn)
        .await;
    Ok(json(
        StatusCode::OK,
        &json!({"message": ON, "data": {"recovery_codes": recovery_codes}}),
    ))
}

/// `DELETE /auth/authenticator/` with `{"code"}`: a current code from the app, or a recovery
/// code, removes it; with `{"user_id"}`, an admin who may deactivate that user removes theirs.
#[tracing::instrument(skip_all)]
pub async fn remove(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let (caller, claims) = ctx.authenticate_with_claims(&req).await?;
    let mut f = Fields::from_request(&req)?;
    let target = f.optional_u64("user_id").filter(|id| *id != caller.id);
    // Asked of an admin only once they may act on the user (a stranger's answer stays a 404).
    let current = f.optional_secret("current_password", 4 * MAX_PASSWORD_CHARS);
    f.finish()?;
    if let Some(id) = target {
        return remove_for(ctx, &req, (&caller, &claims), id, current).await;
    }
    let code = code_field(&req, true)?;
    // The code is spent in the write that removes the app (a replayed one is refused).
    let who = (&caller, &claims);
    with_a_code(ctx, who, "authenticator-remove", &code, |u| {
        u.authenticator = None;
    })
    .await?;
    tracing::info!(user_id = caller.id, "authenticator removed");
    let event = Event::AuthenticatorOff { by_admin: false };
    ctx.security_notice(&req, &caller.email, event).await;
    Ok(json(StatusCode::OK, &json!({ "message": OFF })))
}

/// Spends `code` (a current code from the app, or a recovery code) on the caller's own
/// authenticator and applies `then` in the same conditional write, so a code works once. Wrong
/// codes spend a budget of the caller's login (`scope`), as wrong passwords do when
/// re-authenticating; a right one gives its try back.
async fn with_a_code(
    ctx: &Ctx,
    (caller, claims): (&shared::model::User, &shared::jwt::Claims),
    scope: &str,
    code: &str,
    mut then: impl FnMut(&mut shared::model::User),
) -> ApiResult<()> {
    if caller.authenticator.is_none() {
        return Err(ApiError::bad_request(NOT_ON));
    }
    let counted = ctx.reauth_budget(scope, caller, claims).await?;
    ctx.modify_user(caller.id, |u| {
        ctx.spend_code(u, code)?.ok_or_else(wrong_code)?;
        then(u);
        Ok(())
    })
    .await?;
    for c in &counted {
        ctx.refund(c).await;
    }
    Ok(())
}

/// `POST /auth/authenticator/recovery-codes/` with `{"code"}`: a current code from the app
/// (spent in the same write, so never one already used; a recovery code is no way to get more)
/// replaces the recovery codes with ten new ones, shown this once. Wrong codes spend a budget of
/// this login, as for removal; the address is told.
#[tracing::instrument(skip_all)]
pub async fn replace_recovery_codes(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let (caller, claims) = ctx.authenticate_with_claims(&req).await?;
    // Only a code from the app: `code_field` refuses a recovery code's shape.
    let code = code_field(&req, false)?;
    let (hashes, shown) = ctx.new_recovery_set(caller.id)?;
    let who = (&caller, &claims);
    with_a_code(ctx, who, "authenticator-recovery", &code, |u| {
        if let Some(on) = u.authenticator.as_mut() {
            on.recovery_codes = hashes.clone();
        }
    })
    .await?;
    tracing::info!(user_id = caller.id, "recovery codes replaced");
    ctx.security_notice(&req, &caller.email, Event::RecoveryCodesReplaced)
        .await;
    Ok(json(
        StatusCode::OK,
        &json!({"message": RECOVERY_REPLACED, "data": {"recovery_codes": shown}}),
    ))
}

/// An admin removes user `id`'s authenticator: only one who may deactivate that user (404 for
/// one who may not even read them), as for ending their sessions, and with the admin's own
/// password (`current_password`): a stolen admin token alone strips nobody's second factor.
async fn remove_for(
    ctx: &Ctx,
    req: &Request,
    (caller, claims): (&shared::model::User, &shared::jwt::Claims),
    id: u64,
    current: Option<String>,
) -> ApiResult<Response<Body>> {
    let target = ctx
        .store
        .user(id)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    if !allowed(caller, Action::Deactivate, &target) {
        return Err(refused(caller, Action::Deactivate, &target));
    }
    // (An empty one is already a 400 from `Fields::optional_secret`.)
    let current = current.ok_or_else(|| password_refusal(ADMIN_PASSWORD_NEEDED))?;
    ctx.reauthenticate(caller, claims, current).await?;
    if target.authenticator.is_none() {
        return Err(ApiError::bad_request(NOT_ON));
    }
    ctx.modify_user(id, |u| {
        u.authenticator = None;
        u.authenticator_pending = None;
        Ok(())
    })
    .await?;
    tracing::info!(
        user_id = id,
        by = caller.id,
        "authenticator removed by an admin"
    );
    let event = Event::AuthenticatorOff { by_admin: true };
    ctx.security_notice(req, &target.email, event).await;
    Ok(json(StatusCode::OK, &json!({ "message": OFF })))
}

fn wrong_code() -> ApiError {
    code_refusal(WRONG_CODE)
}
