//! Issuing, checking and rotating tokens against the live user record. Every sign-in starts a
//! session (a login family, `shared::sessions`) with an absolute end; every token names it.

use lambda_http::Request;

use crate::error::{ApiError, ApiResult};
use crate::jwt::{random_id, Claims, Earned, TokenType};
use crate::model::User;
use crate::route::Assurance;
use crate::sessions::Origin;
use crate::store::{RefreshRecord, Rotation, SessionRecord};
use crate::Ctx;

/// The pair every sign-in answers with.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenPair {
    pub refresh: String,
    pub access: String,
}

/// What a holder of a password-only token is told where the code is needed: 403, since the token
/// is valid and only its assurance is not.
pub const CODE_SIGN_IN_NEEDED: &str = "This needs a sign-in with the one-time code: POST /auth/login/, then POST /auth/login/{id}/ with the code.";

/// How and when a sign-in was earned, as its tokens record it.
#[derive(Clone, Debug)]
struct Earning {
    amr: Vec<String>,
    aud: String,
    auth_time: i64,
}

impl Ctx {
    async fn sign_pair(
        &self,
        issuer: &str,
        user: &User,
        family: &str,
        how: &Earning,
        ends_at: i64,
    ) -> ApiResult<(TokenPair, RefreshRecord)> {
        let now = self.now();
        // No token of the login outlives the login.
        let claims = |token_type, ttl: std::time::Duration| Claims {
            iss: issuer.to_string(),
            sub: user.id.to_string(),
            token_type,
            jti: random_id(),
            iat: now,
            exp: (now + ttl.as_secs() as i64).min(ends_at),
            ver: user.token_version,
            fam: Some(family.to_string()),
            auth_time: Some(how.auth_time),
            amr: how.amr.clone(),
            aud: how.aud.clone(),
        };
        let refresh = claims(TokenType::Refresh, self.config.refresh_ttl);
        let access = claims(TokenType::Access, self.config.access_ttl);
        let record = RefreshRecord {
            jti: refresh.jti.clone(),
            user_id: user.id,
            family: family.to_string(),
            expires_at: refresh.exp,
        };
        let pair = TokenPair {
            refresh: self.sign_token(&refresh).await?,
            access: self.sign_token(&access).await?,
        };
        Ok((pair, record))
    }

    /// Starts a new login family for `user`, who must be allowed to hold tokens, recording how
    /// the sign-in was `earned`; `issuer` is the API's public base URL ([`Ctx::public_base_url`]).
    /// The session records no origin: see [`Ctx::sign_in`] for a request's.
    pub async fn issue_tokens(
        &self,
        issuer: &str,
        user: &User,
        earned: Earned,
    ) -> ApiResult<TokenPair> {
        self.issue_tokens_from(issuer, user, earned, &Origin::default(), self.now())
            .await
    }

    /// [`Ctx::issue_tokens`] for a sign-in made by `req`: its issuer, source and user agent.
    pub async fn sign_in(
        &self,
        req: &Request,
        user: &User,
        earned: Earned,
    ) -> ApiResult<TokenPair> {
        let issuer = self.public_base_url(req)?;
        self.issue_tokens_from(&issuer, user, earned, &Origin::of(req), self.now())
            .await
    }

    /// A new session for `req`'s caller that continues one signed in at `auth_time` (after a
    /// password change ended it): the same absolute end, so that re-issuing never lengthens a
    /// login.
    pub async fn sign_in_again(
        &self,
        req: &Request,
        user: &User,
        earned: Earned,
        auth_time: i64,
    ) -> ApiResult<TokenPair> {
        let issuer = self.public_base_url(req)?;
        self.issue_tokens_from(&issuer, user, earned, &Origin::of(req), auth_time)
            .await
    }

    async fn issue_tokens_from(
        &self,
        issuer: &str,
        user: &User,
        earned: Earned,
        origin: &Origin,
        auth_time: i64,
    ) -> ApiResult<TokenPair> {
        if !user.may_hold_tokens() {
            return Err(ApiError::invalid_token());
        }
        let now = self.now();
        let ends_at = auth_time + self.config.session_max.as_secs() as i64;
        if ends_at <= now {
            return Err(ApiError::invalid_token());
        }
        let how = Earning {
            amr: earned.amr(),
            aud: earned.aud().to_string(),
            auth_time,
        };
        let family = random_id();
        let (pair, record) = self.sign_pair(issuer, user, &family, &how, ends_at).await?;
        let session = SessionRecord {
            family,
            user_id: user.id,
            token_version: user.token_version,
            started_at: now,
            refreshed_at: now,
            ends_at,
            source_ip: origin.source_ip.clone(),
            user_agent: origin.user_agent.clone(),
            amr: how.amr,
            aud: how.aud,
        };
        futures::try_join!(
            self.store.put_refresh(&record),
            self.store.put_session(&session)
        )?;
        Ok(pair)
    }

    /// The live user behind the request's access token (bearer or `auth_key`), or 401; 403 when
    /// the token was earned with less than the route asks ([`Assurance`]).
    pub async fn authenticate(&self, req: &Request) -> ApiResult<User> {
        Ok(self.authenticate_with_claims(req).await?.0)
    }

    /// [`Ctx::authenticate`], with the token's claims: for a handler that needs its session
    /// (`fam`) or sign-in time as well as the user.
    pub async fn authenticate_with_claims(&self, req: &Request) -> ApiResult<(User, Claims)> {
        let claims = self.verify_access(req).await?;
        let user = self.live_user(&claims).await?;
        assured(req, &claims)?;
        Ok((user, claims))
    }

    /// The claims of the request's access token if its signature, issuer, audience and expiry
    /// hold, or 401. Reads nothing (but the published keys, at most once a minute, when the token
    /// names a key this function has not seen): a handler may start its own reads beside
    /// `live_user` once this passed.
    pub async fn verify_access(&self, req: &Request) -> ApiResult<Claims> {
        let token = crate::http::bearer_token(req).ok_or_else(ApiError::invalid_token)?;
        let issuer = self.public_base_url(req)?;
        self.verify_token(token, TokenType::Access, &issuer)
            .await
            .map_err(|e| e.into_api_error(ApiError::invalid_token()))
    }

    /// The user a verified token names, if that token is still honoured (not deactivated, not
    /// deleted, same token version, its session not ended), or 401.
    pub async fn live_user(&self, claims: &Claims) -> ApiResult<User> {
        let id = claims.user_id().ok_or_else(ApiError::invalid_token)?;
        let ended = |user: &User| {
            claims
                .fam
                .as_deref()
                .is_some_and(|family| user.session_ended(family))
        };
        match self.store.user(id).await? {
            Some(user)
                if user.token_version == claims.ver && user.may_hold_tokens() && !ended(&user) =>
            {
                Ok(user)
            }
            _ => Err(ApiError::invalid_token()),
        }
    }

    /// Rotates a refresh token: the old one is spent, a new pair of the same family comes back,
    /// until the family's absolute end. Presenting a spent token ends the whole family, its
    /// access tokens included.
    pub async fn rotate(&self, issuer: &str, refresh_token: &str) -> ApiResult<TokenPair> {
        let refused = || ApiError::unauthorized("Invalid or expired refresh token.");
        let claims = self
            .verify_token(refresh_token, TokenType::Refresh, issuer)
            .await
            .map_err(|e| e.into_api_error(refused()))?;
        let family = claims.fam.clone().ok_or_else(refused)?;
        let user = self.live_user(&claims).await.map_err(|_| refused())?;
        // A refresh keeps how and when the sign-in was earned: it never raises (or lowers)
        // assurance, nor moves the session's end. (Tokens from before `auth_time` count from
        // their own issue.)
        let how = Earning {
            amr: claims.amr.clone(),
            aud: claims.aud.clone(),
            auth_time: claims.auth_time.unwrap_or(claims.iat),
        };
        let now = self.now();
        let ends_at = how.auth_time + self.config.session_max.as_secs() as i64;
        if now >= ends_at {
            return Err(refused());
        }
        let (pair, record) = self
            .sign_pair(issuer, &user, &family, &how, ends_at)
            .await?;
        match self.store.rotate_refresh(&claims.jti, &record, now).await? {
            Rotation::Rotated => {
                let keep_until = (now + self.config.refresh_ttl.as_secs() as i64).min(ends_at);
                match self.store.touch_session(&family, now, keep_until).await {
                    Ok(true) => {}
                    // A login from before sessions were recorded (its tokens carry no
                    // `auth_time`): recorded from now on, so that it can be listed and ended like
                    // the others. (Any other login without a record has just been ended.)
                    Ok(false) if claims.auth_time.is_none() => {
                        let session = SessionRecord {
                            family: family.clone(),
                            user_id: user.id,
                            token_version: user.token_version,
                            started_at: how.auth_time,
                            refreshed_at: now,
                            ends_at,
                            source_ip: String::new(),
                            user_agent: String::new(),
                            amr: how.amr.clone(),
                            aud: how.aud.clone(),
                        };
                        if let Err(e) = self.store.put_session(&session).await {
                            tracing::warn!(user_id = user.id, error = %e, "session not recorded");
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(user_id = user.id, error = %e, "session refresh not recorded")
                    }
                }
                Ok(pair)
            }
            // A family that ended already (signed out, ended from the list): nothing more to do.
            Rotation::Reused if self.store.session(&family).await?.is_none() => Err(refused()),
            Rotation::Reused => {
                tracing::warn!(
                    user_id = user.id,
                    "refresh token re-used: login family revoked"
                );
                // Its access tokens too, on their next use.
                if let Err(e) = self.end_session(&user, &family).await {
                    tracing::error!(user_id = user.id, error = ?e, "re-used family not ended");
                }
                Err(refused())
            }
            Rotation::Unknown => Err(refused()),
        }
    }
}

/// Whether `claims` meet what the request's route asks (set by `Route::call`; a handler called
/// outside a route is held to the strictest; a token for neither API never verified). A
/// password-only token where the code is needed is 403.
pub fn assured(req: &Request, claims: &Claims) -> ApiResult<()> {
    let needed = req
        .extensions()
        .get::<Assurance>()
        .copied()
        .unwrap_or(Assurance::Code);
    match needed {
        Assurance::Password => Ok(()),
        Assurance::Code | Assurance::Public if !claims.with_code() => {
            Err(ApiError::forbidden(CODE_SIGN_IN_NEEDED))
        }
        Assurance::Code | Assurance::Public => Ok(()),
    }
}
