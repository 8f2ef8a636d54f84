//! `GET /auth/sessions/` lists the account's active logins (or, with `?user_id=`, those of a user
//! the caller may read); `DELETE /auth/sessions/{id}/` ends one, the caller's own or one of a
//! user the caller may deactivate (ARCHITECTURE.md §5). An ended login's access tokens stop on
//! their next use, and its refresh token can no longer be rotated.

use serde_json::{json, Value};
use shared::http::{json, path_param, query_param, StatusCode};
use shared::model::User;
use shared::roles::{allowed, refused, Action};
use shared::store::SessionRecord;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

pub const NO_SUCH_SESSION: &str = "No such session.";
pub const ENDED: &str = "Session ended.";

fn session_json(s: &SessionRecord, current: Option<&str>) -> Value {
    let at = |t: i64| shared::utc::Utc::of(t).rfc3339();
    json!({
        "id": s.family,
        "started_at": at(s.started_at),
        "last_refreshed_at": at(s.refreshed_at),
        "ends_at": at(s.ends_at),
        "source_ip": s.source_ip,
        "user_agent": s.user_agent,
        "earned_with": s.amr,
        "api": s.aud,
        "current": current == Some(s.family.as_str()),
    })
}

/// The user whose sessions the request is about: the caller, or `?user_id=` if the caller may
/// `action` them.
async fn whose(ctx: &Ctx, req: &Request, caller: &User, action: Action) -> ApiResult<User> {
    let Some(raw) = query_param(req, "user_id") else {
        return Ok(caller.clone());
    };
    let id: u64 = raw
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n < (1u64 << 53))
        .ok_or_else(|| ApiError::bad_request("user_id must be a positive whole number."))?;
    if id == caller.id {
        return Ok(caller.clone());
    }
    let target = ctx
        .store
        .user(id)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    if !allowed(caller, action, &target) {
        return Err(refused(caller, action, &target));
    }
    Ok(target)
}

/// `GET /auth/sessions/`: the active logins, newest first.
#[tracing::instrument(skip_all)]
pub async fn list(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let (caller, claims) = ctx.authenticate_with_claims(&req).await?;
    let user = whose(ctx, &req, &caller, Action::Read).await?;
    let current = (user.id == caller.id)
        .then_some(claims.fam.as_deref())
        .flatten();
    let sessions: Vec<Value> = ctx
        .active_sessions(&user)
        .await?
        .iter()
        .map(|s| session_json(s, current))
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "user_id": user.id, "sessions": sessions }),
    ))
}

/// `DELETE /auth/sessions/{id}/`: ends one login.
#[tracing::instrument(skip_all)]
pub async fn end(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let id = path_param(&req, "id")
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ApiError::not_found(NO_SUCH_SESSION))?;
    let session = ctx
        .store
        .session(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(NO_SUCH_SESSION))?;
    let owner = if session.user_id == caller.id {
        caller.clone()
    } else {
        let owner = ctx
            .store
            .user(session.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found(NO_SUCH_SESSION))?;
        if !allowed(&caller, Action::Deactivate, &owner) {
            // Whoever may not even read the owner learns nothing of the session either.
            return Err(match refused(&caller, Action::Deactivate, &owner).status {
                StatusCode::NOT_FOUND => ApiError::not_found(NO_SUCH_SESSION),
                _ => refused(&caller, Action::Deactivate, &owner),
            });
        }
        owner
    };
    if !ctx.is_active(&owner, &session) {
        return Err(ApiError::not_found(NO_SUCH_SESSION));
    }
    ctx.end_session(&owner, &id).await?;
    tracing::info!(user_id = owner.id, by = caller.id, "session ended");
    Ok(json(StatusCode::OK, &json!({ "message": ENDED })))
}
