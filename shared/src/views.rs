//! The public shapes of a user in answers, with the API documents' field names: never a
//! password hash, a code or a secret.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::model::User;
use crate::Ctx;

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
        "phone_verified": user.phone_verified,
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

impl Ctx {
    /// A time-limited download URL of the user's avatar, or "" without one.
    pub async fn avatar_url(&self, user: &User) -> ApiResult<String> {
        match &user.avatar_key {
            Some(key) => self
                .blobs
                .url(
                    key,
                    self.config.blob_url_ttl,
                    &crate::blob::avatar_meta(key),
                )
                .await
                .map_err(ApiError::internal),
            None => Ok(String::new()),
        }
    }
}
