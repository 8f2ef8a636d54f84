//! Account operations shared by the auth functions: read-modify-write of a user, throttling,
//! verification links, and the public shapes of a user.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::model::User;
use crate::notify::{Channel, Message};
use crate::store::{Update, Verification};
use crate::Ctx;

/// A random 16-digit customer id, for an account that claims no bank customer.
pub fn new_customer_id() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    format!(
        "{}{:015}",
        rng.gen_range(1..10),
        rng.gen_range(0..1_000_000_000_000_000u64)
    )
}

/// Answer for an object the caller may not see, or that does not exist (no existence leak).
pub fn user_not_found() -> ApiError {
    ApiError::not_found("User not found.")
}

/// The message for a value that belongs to another user.
pub fn taken_message(field: &str) -> String {
    format!(
        "A user with that {} already exists.",
        field.replace('_', " ")
    )
}

/// Hex SHA-256, for looking tokens up by hash so the store never holds one in clear.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Ctx {
    /// Reads user `id`, applies `change`, and writes it back if nobody wrote in between
    /// (re-reading and re-applying a few times on a race). 404 if the user is gone.
    pub async fn modify_user(
        &self,
        id: u64,
        mut change: impl FnMut(&mut User) -> ApiResult<()>,
    ) -> ApiResult<User> {
        for _ in 0..5 {
            let before = self.store.user(id).await?.ok_or_else(user_not_found)?;
            let mut after = before.clone();
            change(&mut after)?;
            if after == before {
                return Ok(after);
            }
            match self.store.update_user(&before, &after).await? {
                Update::Done => return Ok(after),
                Update::Taken(crate::store::Taken::CustomerId) => {
                    return Err(ApiError::conflict(
                        "This customer id is already bound to another account.",
                    ))
                }
                Update::Taken(t) => {
                    let mut fields = std::collections::BTreeMap::new();
                    fields.insert(t.field().to_string(), taken_message(t.field()));
                    return Err(ApiError::invalid_fields(fields));
                }
                Update::Stale => continue,
            }
        }
        Err(ApiError::conflict(
            "The account changed while updating it. Please try again.",
        ))
    }

    /// Counts an attempt on `scope:key`; 429 with `Retry-After` once more than `limit` fall in
    /// the current window of `window_secs`.
    pub async fn throttle(
        &self,
        scope: &str,
        key: &str,
        limit: u64,
        window_secs: i64,
    ) -> ApiResult<()> {
        let now = self.now();
        let window_start = now - now.rem_euclid(window_secs);
        let hits = self
            .store
            .hit(&format!("{scope}:{key}"), window_start, window_secs)
            .await?;
        if hits > limit.saturating_mul(self.config.throttle_multiplier) {
            return Err(ApiError::too_many_requests(
                (window_start + window_secs - now).max(1) as u64,
            ));
        }
        Ok(())
    }

    /// Throttles per source address too (API Gateway's source IP), when there is one.
    pub async fn throttle_source(
        &self,
        scope: &str,
        req: &crate::Request,
        limit: u64,
        window_secs: i64,
    ) -> ApiResult<()> {
        match crate::http::source_ip(req) {
            Some(ip) => {
                self.throttle(scope, &format!("ip:{ip}"), limit, window_secs)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Whether `user` never verified its e-mail within `UNVERIFIED_TTL_SECS` of registering:
    /// such an account counts as gone, and whatever looks it up removes it with its claims.
    pub fn expired_unverified(&self, user: &User) -> bool {
        !user.is_verified
            && user.created_at + self.config.unverified_ttl.as_secs() as i64 <= self.now()
    }

    /// `user`, or `None` (having removed it) when it is an expired unverified account. The
    /// removal holds only if the account is still as read: one verified meanwhile is kept.
    pub async fn unless_expired(&self, user: Option<User>) -> ApiResult<Option<User>> {
        let mut current = user;
        for _ in 0..3 {
            match current {
                Some(u) if self.expired_unverified(&u) => {
                    if self.store.delete_user(&u).await? == Update::Done {
                        tracing::info!(user_id = u.id, "expired unverified account removed");
                        return Ok(None);
                    }
                    current = self.store.user(u.id).await?;
                }
                other => return Ok(other),
            }
        }
        // Still expired after changing under us each time: it counts as gone all the same.
        Ok(current.filter(|u| !self.expired_unverified(u)))
    }

    /// Removes account `id` as it is at that moment (a change meanwhile, such as an approval,
    /// is read again, so that everything it holds goes with it); an account already gone is
    /// no error.
    pub async fn delete_account(&self, id: u64) -> ApiResult<()> {
        for _ in 0..5 {
            let Some(user) = self.store.user(id).await? else {
                return Ok(());
            };
            if self.store.delete_user(&user).await? == Update::Done {
                return Ok(());
            }
        }
        Err(ApiError::conflict(
            "The account changed while deleting it. Please try again.",
        ))
    }

    /// When `new`'s username or e-mail (as `taken` says) is held by an expired unverified
    /// account, removes that account and answers true: the registration may try again.
    pub async fn purge_expired_holder(
        &self,
        taken: crate::store::Taken,
        new: &crate::model::NewUser,
    ) -> ApiResult<bool> {
        let holder = match taken {
            crate::store::Taken::Username => self.store.user_by_username(&new.username).await?,
            crate::store::Taken::Email => self.store.user_by_email(&new.email).await?,
            crate::store::Taken::CustomerId => None,
        };
        let was_there = holder.is_some();
        Ok(was_there && self.unless_expired(holder).await?.is_none())
    }

    /// The base of links to this API in mail: the configured public URL when there is one, else
    /// the one API Gateway says the request came in at. A 500 (before anything is written) when
    /// neither is known: a misconfigured deployment, never something a client can choose.
    pub fn public_base_url(&self, req: &crate::Request) -> ApiResult<String> {
        self.config
            .public_base_url
            .clone()
            .or_else(|| crate::http::gateway_base_url(req))
            .ok_or_else(|| {
                ApiError::internal("no PUBLIC_BASE_URL and no domain in the request context")
            })
    }

    /// Stores a single-use link for `email` of user `user_id` and mails it there; `base_url` is
    /// [`Ctx::public_base_url`] of the request.
    pub async fn send_verification(
        &self,
        base_url: &str,
        user_id: u64,
        email: &str,
    ) -> ApiResult<()> {
        let token = format!("{}{}", crate::jwt::random_id(), crate::jwt::random_id());
        self.store
            .put_verification(&Verification {
                token_hash: sha256_hex(&token),
                user_id,
                email: email.to_string(),
                expires_at: self.now() + self.config.verify_ttl.as_secs() as i64,
            })
            .await?;
        let link = format!("{base_url}/auth/verify-email/?token={token}");
        let hours = self.config.verify_ttl.as_secs() / 3600;
        let message = Message {
            channel: Channel::Email,
            to: email.to_string(),
            subject: "Verify your e-mail address".into(),
            body: format!(
                "Welcome to Fintract.\n\nConfirm this e-mail address by opening:\n{link}\n\n\
                 The link works once and expires in {hours} hours. If you did not register, ignore this message."
            ),
        };
        self.notifier
            .send(&message)
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }

    /// The sum of the balances of the user's accounts (customers only).
    pub async fn net_balance(&self, user: &User) -> ApiResult<i64> {
        if user.user_type != crate::model::UserType::Customer || !user.admin_approved {
            return Ok(0);
        }
        let accounts = self.store.accounts_of_customer(&user.customer_id).await?;
        Ok(accounts.iter().map(|a| a.balance).sum())
    }
}

fn gender(user: &User) -> Value {
    json!(user
        .gender
        .map(|g| serde_json::to_value(g).unwrap_or_default())
        .unwrap_or(json!("")))
}

/// The registration answer: the seed's fields, never a password.
pub fn registered(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "user_type": user.user_type,
        "phone": user.phone,
        "customer_id": user.customer_id,
        "gender": gender(user),
    })
}

/// The profile of `GET /auth/info/{id}/`, with the seed schema's field names.
pub fn profile(user: &User, avatar_url: String, net_balance: i64) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "avatar": avatar_url,
        "gender": gender(user),
        "username": user.username,
        "name": user.name,
        "net_balance": net_balance,
        "customer-id": user.customer_id,
        "verification_status": user.is_verified,
        "phone": user.phone,
        "country": user.country,
        "citizenship": user.citizenship,
        "national_id": user.national_id,
        "address": user.address,
        "bank_name": user.bank,
        "user_type": user.user_type,
        "admin_approved": user.admin_approved,
        "pending_email": user.pending_email,
    })
}

impl Ctx {
    /// A time-limited download URL of the user's avatar, or "" without one.
    pub async fn avatar_url(&self, user: &User) -> ApiResult<String> {
        match &user.avatar_key {
            Some(key) => self
                .blobs
                .url(key, self.config.blob_url_ttl)
                .await
                .map_err(ApiError::internal),
            None => Ok(String::new()),
        }
    }

    /// Removes every object the user owns (avatars and uploads).
    pub async fn delete_user_blobs(&self, user_id: u64) -> ApiResult<()> {
        for prefix in [avatar_prefix(user_id), upload_prefix(user_id)] {
            self.blobs
                .delete_prefix(&prefix)
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(())
    }
}

/// Where a user's avatars live.
pub fn avatar_prefix(user_id: u64) -> String {
    format!("avatars/{user_id}/")
}

/// Where a user's uploads live.
pub fn upload_prefix(user_id: u64) -> String {
    format!("uploads/{user_id}/")
}

/// The `{"user": …}` object of the avatar answer: the seed's fields minus every secret (no
/// password hash, no OTP).
pub fn account_object(user: &User, avatar_url: String) -> Value {
    json!({
        "id": user.id,
        "last_login": user.last_login,
        "is_superuser": false,
        "user_type": user.user_type,
        "gender": gender(user),
        "username": user.username,
        "email": user.email,
        "phone": user.phone,
        "avatar": avatar_url,
        "customer_id": user.customer_id,
        "name": user.name,
        "country": user.country,
        "citizenship": user.citizenship,
        "national_id": user.national_id,
        "address": user.address,
        "is_staff": false,
        "is_active": user.is_active,
        "is_deactivate": !user.is_active,
        "is_verified": user.is_verified,
        "admin_approved": user.admin_approved,
        "bank": user.bank,
        "groups": [],
        "user_permissions": [],
    })
}
