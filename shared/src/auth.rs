//! Issuing, checking and rotating tokens against the live user record.

use lambda_http::Request;

use crate::error::{ApiError, ApiResult};
use crate::jwt::{random_id, Claims, Earned, TokenType};
use crate::model::User;
use crate::route::Assurance;
use crate::store::{RefreshRecord, Rotation};
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

/// How a sign-in was earned, as its tokens record it.
#[derive(Clone, Debug)]
struct Earning {
    amr: Vec<String>,
    aud: String,
}

impl From<Earned> for Earning {
    fn from(e: Earned) -> Self {
        Earning {
            amr: e.amr(),
            aud: e.aud().to_string(),
        }
    }
}

impl Ctx {
    async fn sign_pair(
        &self,
        issuer: &str,
        user: &User,
        family: &str,
        how: &Earning,
    ) -> ApiResult<(TokenPair, RefreshRecord)> {
        let now = self.now();
        let claims = |token_type, ttl: std::time::Duration| Claims {
            iss: issuer.to_string(),
            sub: user.id.to_string(),
            token_type,
            jti: random_id(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            ver: user.token_version,
            fam: (token_type == TokenType::Refresh).then(|| family.to_string()),
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
    pub async fn issue_tokens(
        &self,
        issuer: &str,
        user: &User,
        earned: Earned,
    ) -> ApiResult<TokenPair> {
        if !user.may_hold_tokens() {
            return Err(ApiError::invalid_token());
        }
        let (pair, record) = self
            .sign_pair(issuer, user, &random_id(), &earned.into())
            .await?;
        self.store.put_refresh(&record).await?;
        Ok(pair)
    }

    /// The live user behind the request's access token (bearer or `auth_key`), or 401; 403 when
    /// the token was earned with less than the route asks ([`Assurance`]).
    pub async fn authenticate(&self, req: &Request) -> ApiResult<User> {
        let claims = self.verify_access(req).await?;
        let user = self.live_user(&claims).await?;
        assured(req, &claims)?;
        Ok(user)
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
    /// deleted, same token version), or 401.
    pub async fn live_user(&self, claims: &Claims) -> ApiResult<User> {
        let id = claims.user_id().ok_or_else(ApiError::invalid_token)?;
        match self.store.user(id).await? {
            Some(user) if user.token_version == claims.ver && user.may_hold_tokens() => Ok(user),
            _ => Err(ApiError::invalid_token()),
        }
    }

    /// Rotates a refresh token: the old one is spent, a new pair of the same family comes back.
    /// Presenting a spent token revokes its whole family.
    pub async fn rotate(&self, issuer: &str, refresh_token: &str) -> ApiResult<TokenPair> {
        let refused = || ApiError::unauthorized("Invalid or expired refresh token.");
        let claims = self
            .verify_token(refresh_token, TokenType::Refresh, issuer)
            .await
            .map_err(|e| e.into_api_error(refused()))?;
        let family = claims.fam.clone().ok_or_else(refused)?;
        let user = self.live_user(&claims).await.map_err(|_| refused())?;
        // A refresh keeps how the sign-in was earned: it never raises (or lowers) assurance.
        let how = Earning {
            amr: claims.amr.clone(),
            aud: claims.aud.clone(),
        };
        let (pair, record) = self.sign_pair(issuer, &user, &family, &how).await?;
        match self
            .store
            .rotate_refresh(&claims.jti, &record, self.now())
            .await?
        {
            Rotation::Rotated => Ok(pair),
            Rotation::Reused => {
                tracing::warn!(
                    user_id = user.id,
                    "refresh token re-used: login family revoked"
                );
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
