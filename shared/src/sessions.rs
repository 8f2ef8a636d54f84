//! Sessions that end when they should (ARCHITECTURE.md §6). A session is a login family: the
//! refresh tokens rotated from one sign-in, and the access tokens they issued (each access token
//! names its family in `fam`). It ends
//!
//! - at its absolute end, `SESSION_MAX_SECS` after the sign-in (`auth_time`), however often it is
//!   refreshed;
//! - when its user signs it out (`POST /auth/logout/`), ends it from the list
//!   (`DELETE /auth/sessions/{id}/`), or an admin does; or when a spent refresh token of it is
//!   presented again;
//! - with every other session of the account, on `POST /auth/logout-all/`, a deactivation or a
//!   deletion (the user's token version moves on).
//!
//! An ended session's refresh token can no longer be rotated (the store revokes the family), and
//! its access tokens stop on their next use: the family is listed on the user record, which every
//! authenticated request reads anyway, until the last access token it could have issued has
//! expired. So ending a session costs no read on any request path.

use crate::error::ApiResult;
use crate::model::User;
use crate::store::SessionRecord;
use crate::Ctx;

/// Where a sign-in came from, as its session records it.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub source_ip: String,
    pub user_agent: String,
}

/// The longest user agent kept.
const MAX_USER_AGENT: usize = 256;

impl Origin {
    /// The request's source address (API Gateway's) and user agent.
    pub fn of(req: &crate::Request) -> Self {
        let user_agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT)
            .collect();
        Origin {
            source_ip: crate::http::source_ip(req).unwrap_or_default(),
            user_agent,
        }
    }
}

impl Ctx {
    /// Whether `session` is one of `user`'s live logins: same token version, not ended, before
    /// its absolute end, and refreshed within the refresh lifetime.
    pub fn is_active(&self, user: &User, session: &SessionRecord) -> bool {
        let now = self.now();
        session.user_id == user.id
            && session.token_version == user.token_version
            && !user.session_ended(&session.family)
            && session.ends_at > now
            && session.refreshed_at + self.config.refresh_ttl.as_secs() as i64 > now
    }

    /// `user`'s live logins, the most recent sign-in first.
    pub async fn active_sessions(&self, user: &User) -> ApiResult<Vec<SessionRecord>> {
        let mut sessions: Vec<_> = self
            .store
            .sessions_of(user.id)
            .await?
            .into_iter()
            .filter(|s| self.is_active(user, s))
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        Ok(sessions)
    }

    /// Ends `user`'s login `family` at once: the family is revoked for rotation, and listed on
    /// the user until its last access token has expired.
    pub async fn end_session(&self, user: &User, family: &str) -> ApiResult<()> {
        let now = self.now();
        self.store
            .end_session(family, now, now + self.config.refresh_ttl.as_secs() as i64)
            .await?;
        let until = now + self.config.access_ttl.as_secs() as i64;
        self.modify_user(user.id, |u| {
            u.end_session(family, until, now);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Ends every login of user `id`: its token version moves on, so every token issued before
    /// (and every dashboard cookie) stops on its next use; and the devices it knew are known no
    /// more.
    pub async fn end_every_session(&self, id: u64) -> ApiResult<()> {
        let now = self.now();
        self.modify_user(id, |u| {
            u.token_version += 1;
            u.ended_sessions.clear();
            u.devices_since = now;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
