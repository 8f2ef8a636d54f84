//! Bank customer ids as claims: any number of accounts may claim one at registration; a
//! Fintract admin binds it to one (`User::holds_customer_link`). What approval and the claims
//! listing share.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::model::{User, UserType};
use crate::roles::{may, Action};
use crate::utc::Utc;
use crate::{Ctx, Request};

/// What a caller who may not approve is told.
pub const APPROVERS_ONLY: &str = "Only a Fintract admin can approve users.";

/// How a claimant is shown to the admin who chooses.
pub fn claimant(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "verified": user.is_verified,
        "phone": user.phone,
        "registered_at": Utc::of(user.created_at).rfc3339(),
        "approved": user.admin_approved,
    })
}

impl Ctx {
    /// The caller, if they may approve customers (403 otherwise).
    pub async fn approver(&self, req: &Request) -> ApiResult<User> {
        let caller = self.authenticate(req).await?;
        if !may(caller.user_type, Action::Approve, UserType::Customer) {
            return Err(ApiError::forbidden(APPROVERS_ONLY));
        }
        Ok(caller)
    }

    /// The accounts claiming `customer_id`, without those left unverified past their time
    /// (which are removed on the way).
    pub async fn claimants_of(&self, customer_id: &str) -> ApiResult<Vec<User>> {
        let mut live = Vec::new();
        for user in self.store.claimants(customer_id).await? {
            if let Some(user) = self.unless_expired(Some(user)).await? {
                live.push(user);
            }
        }
        Ok(live)
    }
}
