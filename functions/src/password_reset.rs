//! `POST /auth/password-reset/` and `POST /auth/password-reset/confirm/`: a person who forgot
//! their password asks for a link by e-mail, then sets a new password with the token in it.
//!
//! - The request answers the same, in body, status and time, whether or not an account has the
//!   address; its budgets (per address and per source) are spent either way, and every answer
//!   waits for the same floor (`PASSWORD_RESET_MIN_ANSWER_MS`), longer than the store write and
//!   the mail send only a known address costs. Only an active, verified account is mailed.
//! - The link carries `<user id>.<256 random bits>` in the client application's page
//!   (`PASSWORD_RESET_URL`, `{token}` replaced). The store keeps only a SHA-256 of the random
//!   part bound to the user and to the password hash it was issued under (as Django's reset
//!   tokens are), under the verification links' port: so a link works once, until
//!   `PASSWORD_RESET_TTL_SECS`, only while the password and the address are the ones it was
//!   sent for, and never as an e-mail verification link (that hashes the token alone).
//! - Until the link is known good, every refusal is the same 400 naming `token`; the new
//!   password is then judged (a refused one puts the link back).
//! - Success ends every session of the account (its token version moves on, and the devices it
//!   knew are known no more), drops a pending change of address or enrolment, and tells the
//!   address (`shared::security`). An authenticator app stays on: a reset by e-mail is no way
//!   around it.

use crate::dashboard::html::{self, Notice};
use serde_json::json;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::model::{unique_key, User};
use shared::notify::{Channel, Message};
use shared::security::Event;
use shared::store::Verification;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// Reset mails per address (whether or not an account has it) and per source, an hour.
pub const RESETS_PER_ADDRESS: u64 = 3;
pub const RESETS_PER_SOURCE: u64 = 20;
const WINDOW_SECS: i64 = 3600;
/// Confirmations per source in 15 minutes.
pub const CONFIRMS_PER_SOURCE: u64 = 50;

pub const SENT: &str =
    "If an account uses this address, a link to reset its password has been sent there.";
pub const INVALID_LINK: &str =
    "This reset link is invalid, used or expired. Ask for a new one with POST /auth/password-reset/.";
pub const RESET: &str =
    "Your password has been reset and every session signed out. Sign in with the new password.";

/// The longest token read (ours are 84 characters at most).
const MAX_TOKEN: usize = 128;

/// The stored hash of a reset token's random part for `user` as it is now.
fn reset_hash(user: &User, secret: &str) -> String {
    shared::crypto::sha256_hex(&format!(
        "password-reset:{}:{}:{secret}",
        user.id, user.password_hash
    ))
}

/// `POST /auth/password-reset/` with `{"email"}`.
#[tracing::instrument(skip_all)]
pub async fn request(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let mut f = Fields::from_request(&req)?;
    let email = f.email("email", true).unwrap_or_default();
    f.finish()?;
    // Known before anything is looked up: a misconfiguration answers alike for every address.
    let base_url = ctx.public_base_url(&req)?;
    ctx.throttle_source("password-reset", &req, RESETS_PER_SOURCE, WINDOW_SECS)
        .await?;
    ctx.throttle(
        "password-reset",
        &format!("to:{}", unique_key(&email)),
        RESETS_PER_ADDRESS,
        WINDOW_SECS,
    )
    .await?;
    // From here on only a known address costs more (a store write and a mail send): every
    // answer waits until the same floor, so the time taken tells nothing either.
    let answer_at = tokio::time::Instant::now() + ctx.config.password_reset_min_answer;
    let user = ctx
        .unless_expired(ctx.store.user_by_email(&email).await?)
        .await?;
    if let Some(user) = user.filter(|u| u.may_hold_tokens()) {
        if let Err(e) = send_link(ctx, &req, &base_url, &user).await {
            // Said to nobody: the answer must not tell whether the address has an account.
            tracing::error!(user_id = user.id, error = ?e, "password reset link not sent");
        }
    }
    if tokio::time::Instant::now() > answer_at {
        tracing::warn!(
            "password reset answered after its floor: raise PASSWORD_RESET_MIN_ANSWER_MS"
        );
    }
    tokio::time::sleep_until(answer_at).await;
    Ok(json(StatusCode::OK, &json!({ "message": SENT })))
}

/// Stores a reset link for `user` and mails it to the account's address.
async fn send_link(ctx: &Ctx, req: &Request, base_url: &str, user: &User) -> ApiResult<()> {
    let secret = format!("{}{}", shared::jwt::random_id(), shared::jwt::random_id());
    let ttl = ctx.config.password_reset_ttl.as_secs() as i64;
    ctx.store
        .put_verification(&Verification {
            token_hash: reset_hash(user, &secret),
            user_id: user.id,
            email: user.email.clone(),
            expires_at: ctx.now() + ttl,
        })
        .await?;
    let token = format!("{}.{secret}", user.id);
    let link = match &ctx.config.password_reset_url {
        Some(template) => template.replace("{token}", &token),
        None => format!("{base_url}/auth/password-reset/confirm/?token={token}"),
    };
    let origin = shared::sessions::Origin::of(req);
    let message = Message {
        channel: Channel::Email,
        to: user.email.clone(),
        subject: "Reset your Fintract password".into(),
        body: format!(
            "On {when}, from {source}, someone asked to reset the password of the Fintract \
             account of this address.\n\nTo choose a new password, open:\n{link}\n\n\
             The link works once and expires in {minutes} minutes. If it was not you, ignore \
             this message: your password stays as it is.",
            when = shared::utc::Utc::of(ctx.now()).readable(),
            source = if origin.source_ip.is_empty() {
                "an unknown address"
            } else {
                &origin.source_ip
            },
            minutes = (ttl as u64).div_ceil(60),
        ),
    };
    ctx.notifier
        .send(&message)
        .await
        .map_err(ApiError::internal)
}

/// The 400 naming the token.
fn invalid_link() -> ApiError {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("token".to_string(), INVALID_LINK.to_string());
    ApiError::invalid_fields(fields)
}

/// `GET /auth/password-reset/confirm/?token=`: where the default link leads (a deployment with
/// a client application links to its page instead, `PASSWORD_RESET_URL`): a form that posts the
/// token with the new password twice back here. It reads nothing and spends nothing.
#[tracing::instrument(skip_all)]
pub async fn form(_ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    match shared::http::query_param(&req, "token").filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
    {
        Some(token) => Ok(html::response(
            StatusCode::OK,
            html::reset_password(Some(&token), None),
        )),
        None => Ok(html::response(
            StatusCode::BAD_REQUEST,
            html::reset_password(None, Some(Notice::Error(INVALID_LINK))),
        )),
    }
}

/// Whether the request came from the page's form (form-encoded, from a browser asking for
/// HTML): then the answer is the page again, not JSON.
fn from_the_form(req: &Request) -> bool {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    header(http::header::CONTENT_TYPE).starts_with("application/x-www-form-urlencoded")
        && header(http::header::ACCEPT).contains("text/html")
}

/// `POST /auth/password-reset/confirm/` with `{"token", "password", "password2"}`; from the
/// page's form, the page again with the outcome.
#[tracing::instrument(skip_all)]
pub async fn confirm(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let outcome = reset(ctx, &req).await;
    if !from_the_form(&req) {
        return outcome.map(|()| json(StatusCode::OK, &json!({ "message": RESET })));
    }
    match outcome {
        Ok(()) => Ok(html::response(
            StatusCode::OK,
            html::reset_password(None, Some(Notice::Info(RESET))),
        )),
        // A refusal of what was typed: the page again, saying why. Anything else (429 with its
        // `Retry-After`, 413, 5xx) answers as everywhere.
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let token = shared::http::body_object(&req)
                .ok()
                .and_then(|b| b.get("token").and_then(|t| t.as_str()).map(str::to_string))
                .filter(|t| t.len() <= MAX_TOKEN)
                .unwrap_or_default();
            let message = match e.fields.values().next() {
                Some(problem) => problem.clone(),
                None => e.message.clone(),
            };
            Ok(html::response(
                e.status,
                html::reset_password(Some(&token), Some(Notice::Error(&message))),
            ))
        }
        Err(e) => Err(e),
    }
}

/// Resets the password for the token of `req`'s body, or answers why not.
async fn reset(ctx: &Ctx, req: &Request) -> ApiResult<()> {
    ctx.throttle_source("password-reset-confirm", req, CONFIRMS_PER_SOURCE, 900)
        .await?;
    let mut f = Fields::from_request(req)?;
    let token = f.required_str("token", MAX_TOKEN);
    let password = f.new_password("password", "password2");
    f.finish()?;
    let (id, secret) = token.split_once('.').ok_or_else(invalid_link)?;
    let id: u64 = id
        .parse()
        .ok()
        .filter(|_| !id.starts_with(['0', '+']))
        .ok_or_else(invalid_link)?;
    let user = ctx
        .store
        .user(id)
        .await?
        .filter(|u| u.may_hold_tokens())
        .ok_or_else(invalid_link)?;
    let link = ctx
        .store
        .take_verification(&reset_hash(&user, secret))
        .await?
        .filter(|v| v.user_id == id && v.email == user.email && v.expires_at > ctx.now())
        .ok_or_else(invalid_link)?;
    // Judged only once the link is known good (so that no answer says anything of an account
    // to whoever lacks its link), and then the link is put back: a refused password leaves it
    // usable.
    let mut f = Fields::new(Default::default());
    f.refuse_guessable_password(
        "password",
        &password,
        &[&user.username, &user.email, &user.name, &user.phone],
    );
    if let Err(refusal) = f.finish() {
        ctx.store.put_verification(&link).await?;
        return Err(refusal);
    }
    let hash = shared::password::hash(password)
        .await
        .map_err(ApiError::internal)?;
    let now = ctx.now();
    let user = ctx
        .modify_user(id, |u| {
            // The password or the address changed since the link was read: it was for those.
            if u.password_hash != user.password_hash || u.email != link.email {
                return Err(invalid_link());
            }
            u.password_hash = hash.clone();
            u.token_version += 1;
            u.ended_sessions.clear();
            u.devices_since = now;
            // A change of address or an enrolment begun before (perhaps by whoever made the
            // reset necessary) does not survive it.
            u.pending_email = None;
            u.authenticator_pending = None;
            Ok(())
        })
        .await?;
    tracing::info!(user_id = id, "password reset");
    ctx.security_notice(req, &user.email, Event::PasswordReset)
        .await;
    Ok(())
}
