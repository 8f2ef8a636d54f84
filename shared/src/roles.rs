//! Who may do what to whom: one table for every acting role and every target role. Roles are not
//! a ladder (a bank's admin has no business with developers, nor a developers' admin with bank
//! customers), so each pair is stated. README's "Roles" table is this table.

use crate::error::{ApiError, ApiResult};
use crate::model::{User, UserType};
use crate::Ctx;

/// What one account may do to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// See the profile (`GET /auth/info/{id}/`).
    Read,
    /// Change the profile (`PATCH /auth/update/usr/{id}/`).
    Change,
    /// Set `is_active` to false: every token of the target stops working.
    Deactivate,
    /// Set `is_active` back to true.
    Reactivate,
    /// Bind a customer's claimed bank customer id (`POST /auth/admin_approval/`).
    Approve,
    /// Create an account of the target role (`POST /auth/register/` with a bearer token).
    Create,
}

pub const ACTIONS: [Action; 6] = [
    Action::Read,
    Action::Change,
    Action::Deactivate,
    Action::Reactivate,
    Action::Approve,
    Action::Create,
];

pub const ROLES: [UserType; 5] = [
    UserType::Customer,
    UserType::BankAdmin,
    UserType::FintractAdmin,
    UserType::Developer,
    UserType::DeveloperAdmin,
];

/// Whether an account of role `actor` may do `action` to an account of role `target` (another
/// account; for one's own see [`may_on_self`]).
pub fn may(actor: UserType, action: Action, target: UserType) -> bool {
    use Action::*;
    use UserType::*;
    match (actor, target) {
        // Anyone may register a customer or developer account (self-registration is open).
        (_, Customer | Developer) if action == Create => true,
        // Fintract's admins run the deployment: every action on every role, their own included
        // (the last active one is kept by `Ctx::keep_a_fintract_admin`).
        (FintractAdmin, Customer) => true,
        (FintractAdmin, _) => action != Approve,
        // The bank's admins serve bank customers, and may suspend one, not lift a suspension.
        (BankAdmin, Customer) => matches!(action, Read | Change | Deactivate),
        // Developers' admins look after developers.
        (DeveloperAdmin, Developer) => {
            matches!(action, Read | Change | Deactivate | Reactivate | Create)
        }
        _ => false,
    }
}

/// What anyone may do to their own account here: read and change the profile. Never their own
/// role or `is_active` (self-deactivation has its own endpoint), nor approve themselves.
pub fn may_on_self(action: Action) -> bool {
    matches!(action, Action::Read | Action::Change)
}

/// [`may`] or [`may_on_self`] for `actor` acting on `target`.
pub fn allowed(actor: &User, action: Action, target: &User) -> bool {
    if actor.id == target.id {
        may_on_self(action)
    } else {
        may(actor.user_type, action, target.user_type)
    }
}

/// The answer to an action on someone the caller may not act on: 404 where the caller may not
/// even see them (no existence leak), 403 where it may.
pub fn refused(actor: &User, action: Action, target: &User) -> ApiError {
    if allowed(actor, Action::Read, target) {
        ApiError::forbidden(format!(
            "A {} may not {} this account.",
            actor.user_type.as_str(),
            match action {
                Action::Read => "read",
                Action::Change => "change",
                Action::Deactivate => "deactivate",
                Action::Reactivate => "reactivate",
                Action::Approve => "approve",
                Action::Create => "create",
            }
        ))
    } else {
        ApiError::user_not_found()
    }
}

/// What is said when an action would leave no active Fintract admin.
pub const LAST_FINTRACT_ADMIN: &str =
    "The deployment must keep an active Fintract admin: this would leave none.";

impl Ctx {
    /// 409 unless an active FINTRACT_ADMIN other than `leaving` would remain: called before
    /// `leaving` is deactivated or deleted.
    pub async fn keep_a_fintract_admin(&self, leaving: &User) -> ApiResult<()> {
        if !is_active_fintract_admin(leaving) || self.another_fintract_admin(leaving.id).await? {
            Ok(())
        } else {
            Err(ApiError::conflict(LAST_FINTRACT_ADMIN))
        }
    }

    /// Called once `leaving` is deactivated: if meanwhile the other active admin was deactivated
    /// too (two admins deactivating each other at once), `leaving` is put back and the answer is
    /// 409. Of two such requests at least one puts its admin back, so one always remains.
    pub async fn confirm_a_fintract_admin_remains(&self, leaving: &User) -> ApiResult<()> {
        if !is_active_fintract_admin(leaving) || self.another_fintract_admin(leaving.id).await? {
            return Ok(());
        }
        self.modify_user(leaving.id, |u| {
            u.is_active = true;
            Ok(())
        })
        .await?;
        Err(ApiError::conflict(LAST_FINTRACT_ADMIN))
    }

    /// Whether an active FINTRACT_ADMIN other than `besides` exists. The role index may lag
    /// behind a write, so each candidate is read again from the table itself.
    async fn another_fintract_admin(&self, besides: u64) -> ApiResult<bool> {
        for candidate in self.store.staff_of_type(UserType::FintractAdmin).await? {
            if candidate.id == besides {
                continue;
            }
            if self
                .store
                .user(candidate.id)
                .await?
                .is_some_and(|u| is_active_fintract_admin(&u) && u.is_verified)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn is_active_fintract_admin(user: &User) -> bool {
    user.user_type == UserType::FintractAdmin && user.is_active
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use UserType::*;

    #[test]
    fn the_stated_rules_hold() {
        for target in ROLES {
            assert!(may(FintractAdmin, Read, target) && may(FintractAdmin, Deactivate, target));
        }
        assert!(may(BankAdmin, Deactivate, Customer) && !may(BankAdmin, Reactivate, Customer));
        for admin in [BankAdmin, FintractAdmin, DeveloperAdmin] {
            assert!(!may(BankAdmin, Read, admin) && !may(BankAdmin, Change, admin));
        }
        assert!(may(DeveloperAdmin, Change, Developer) && !may(DeveloperAdmin, Read, Customer));
        for role in [Customer, Developer] {
            for target in ROLES {
                for action in ACTIONS.into_iter().filter(|a| *a != Create) {
                    assert!(!may(role, action, target), "{role:?} {action:?} {target:?}");
                }
            }
        }
        assert!(may(Customer, Create, Developer) && !may(DeveloperAdmin, Create, BankAdmin));
        // Approval is of customers only, by Fintract admins only.
        for actor in ROLES {
            for target in ROLES {
                assert_eq!(
                    may(actor, Approve, target),
                    actor == FintractAdmin && target == Customer
                );
            }
        }
        assert!(may_on_self(Read) && may_on_self(Change));
        assert!(!may_on_self(Deactivate) && !may_on_self(Reactivate) && !may_on_self(Approve));
    }
}
