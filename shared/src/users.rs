//! A user account's lifecycle: its customer id, read-modify-write of it, the expiry of an
//! unverified account, deletion, and its net balance.

use crate::error::{ApiError, ApiResult};
use crate::model::User;
use crate::store::Update;
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

/// The message for a value that belongs to another user.
pub fn taken_message(field: &str) -> String {
    format!(
        "A user with that {} already exists.",
        field.replace('_', " ")
    )
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
            let before = self
                .store
                .user(id)
                .await?
                .ok_or_else(ApiError::user_not_found)?;
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

    /// The sum of the balances of the user's accounts (customers only).
    pub async fn net_balance(&self, user: &User) -> ApiResult<i64> {
        if user.user_type != crate::model::UserType::Customer || !user.admin_approved {
            return Ok(0);
        }
        let accounts = self.store.accounts_of_customer(&user.customer_id).await?;
        Ok(accounts.iter().map(|a| a.balance).sum())
    }
}
