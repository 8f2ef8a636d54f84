//! `PATCH /auth/update/usr/{id}/`: partial profile update for that user, or an admin the role
//! table (`shared::roles`) lets act on them. Role, approval and verification flags are never
//! writable here; `is_active` only by an admin acting on someone else.
//! A new e-mail address takes effect only once its verification link is opened. Its link is
//! mailed once per change: the same pending address again, or the current one, sends nothing,
//! and a change past the mail budget (`shared::verification`) is refused before anything is
//! written.
//!
//! A change of e-mail address or phone number (the channels sign-in codes go to) needs the
//! caller's password in `current_password`, so that a stolen access token cannot redirect them;
//! a wrong one spends a re-authentication budget of the caller's own login (`shared::signin`),
//! so a stolen token can neither guess it nor lock the owner's sign-in out. The account's current
//! address is told of the change. A new phone number is unconfirmed until confirmed with a code
//! (`verify_phone.rs`).

use serde_json::{json, Value};
use shared::fields::Fields;
use shared::http::{body_object, json, path_id, StatusCode};
use shared::model::{unique_key, User};
use shared::password::MAX_PASSWORD_CHARS;
use shared::roles::{allowed, refused, Action};
use shared::security::Event;
use shared::signin::{password_refusal, WRONG_PASSWORD};
use shared::users::taken_message;
use shared::validate::{normalize_phone, username_problem};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// A profile field the owner may change here; blank means "leave as it is", as in the seed's
/// sample request. Every match on it is exhaustive, so a new field must say where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Editable {
    Email,
    Username,
    Name,
    Phone,
    Country,
    Citizenship,
    NationalId,
    Address,
}

impl Editable {
    const ALL: [Editable; 8] = [
        Editable::Email,
        Editable::Username,
        Editable::Name,
        Editable::Phone,
        Editable::Country,
        Editable::Citizenship,
        Editable::NationalId,
        Editable::Address,
    ];

    /// Its name in the request body.
    fn name(self) -> &'static str {
        match self {
            Editable::Email => "email",
            Editable::Username => "username",
            Editable::Name => "name",
            Editable::Phone => "phone",
            Editable::Country => "country",
            Editable::Citizenship => "citizenship",
            Editable::NationalId => "national_id",
            Editable::Address => "address",
        }
    }

    /// The longest value taken, in characters.
    fn max_chars(self) -> usize {
        match self {
            Editable::Email => 254,
            Editable::Username | Editable::Name => 150,
            Editable::Phone => 32,
            Editable::Country | Editable::Citizenship | Editable::NationalId => 64,
            Editable::Address => 256,
        }
    }

    /// Writes `value` into `user`. A new e-mail address is only pending until its link is
    /// opened: it is returned, to be mailed. The current address cancels a pending one, and the
    /// pending one again changes nothing (its link is already on its way): neither is mailed.
    fn apply(self, user: &mut User, value: String) -> Option<String> {
        match self {
            Editable::Email if same_address(&value, &user.email) => user.pending_email = None,
            Editable::Email if !is_new_address(user, &value) => {}
            Editable::Email => {
                user.pending_email = Some(value.clone());
                return Some(value);
            }
            Editable::Username => user.username = value,
            Editable::Name => user.name = value,
            Editable::Phone if value == user.phone => {}
            Editable::Phone => {
                user.phone = value;
                user.phone_verified = false;
            }
            Editable::Country => user.country = value,
            Editable::Citizenship => user.citizenship = value,
            Editable::NationalId => user.national_id = value,
            Editable::Address => user.address = value,
        }
        None
    }
}

/// Whether two e-mail addresses are one, as the uniqueness claims see them.
fn same_address(a: &str, b: &str) -> bool {
    unique_key(a) == unique_key(b)
}

/// Whether `email` would be a change of `user`'s address, and so mailed: neither the current
/// address nor the one already pending.
fn is_new_address(user: &User, email: &str) -> bool {
    !same_address(email, &user.email)
        && !user
            .pending_email
            .as_deref()
            .is_some_and(|pending| same_address(pending, email))
}

#[derive(Default)]
struct Changes {
    text: Vec<(Editable, String)>,
    is_active: Option<bool>,
    current_password: Option<String>,
}

impl Changes {
    /// Whether these changes move `user`'s e-mail address or phone number (where codes go).
    fn redirects(&self, user: &User) -> bool {
        self.value(Editable::Email)
            .is_some_and(|email| is_new_address(user, email))
            || self
                .value(Editable::Phone)
                .is_some_and(|phone| phone != user.phone)
    }

    /// The new value of `field`, if the request changes it.
    fn value(&self, field: Editable) -> Option<&str> {
        self.text
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }
}

/// What `current_password` must hold, and what a wrong one is told.
pub const PASSWORD_NEEDED: &str =
    "Your current password is needed to change the e-mail address or the phone number.";

/// At most this many phone number changes per account an hour (each mails a notice).
const PHONE_CHANGES_PER_HOUR: u64 = 5;

fn parse(req: &Request, admin: bool) -> ApiResult<Changes> {
    let map = body_object(req)?;
    let mut changes = Changes::default();
    let mut f = Fields::new(map.clone());
    for key in map.keys() {
        let allowed = Editable::ALL.iter().any(|e| e.name() == key)
            || key == "current_password"
            || (admin && key == "is_active");
        if !allowed {
            f.problem(key, "This field cannot be changed here.");
        }
    }
    for field in Editable::ALL {
        let name = field.name();
        let Some(value) = f
            .optional_str(name, field.max_chars())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        let value = match field {
            Editable::Email => match f.email(name, false) {
                Some(v) => v,
                None => continue,
            },
            Editable::Username => match username_problem(&value) {
                Some(problem) => {
                    f.problem(name, problem);
                    continue;
                }
                None => value,
            },
            Editable::Phone => match normalize_phone(&value) {
                Some(v) => v,
                None => {
                    f.problem(
                        name,
                        "Enter a phone number of 7 to 15 digits, optionally starting with +.",
                    );
                    continue;
                }
            },
            Editable::Name
            | Editable::Country
            | Editable::Citizenship
            | Editable::NationalId
            | Editable::Address => value,
        };
        changes.text.push((field, value));
    }
    match map.get("current_password") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p.is_empty() => {}
        Some(Value::String(p)) if p.chars().count() > 4 * MAX_PASSWORD_CHARS => {
            f.problem("current_password", WRONG_PASSWORD)
        }
        Some(Value::String(p)) => changes.current_password = Some(p.clone()),
        Some(_) => f.problem("current_password", "Must be a string."),
    }
    if admin {
        match map.get("is_active") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => changes.is_active = Some(*b),
            Some(_) => f.problem("is_active", "Must be true or false."),
        }
    }
    f.finish()?;
    Ok(changes)
}

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let base_url = ctx.public_base_url(&req)?;
    let (caller, claims) = ctx.authenticate_with_claims(&req).await?;
    let id = path_id(&req, "id")?;
    let target = ctx
        .store
        .user(id)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    if !allowed(&caller, Action::Change, &target) {
        return Err(refused(&caller, Action::Change, &target));
    }
    let may_suspend = allowed(&caller, Action::Deactivate, &target)
        || allowed(&caller, Action::Reactivate, &target);
    let changes = parse(&req, may_suspend)?;
    match changes.is_active {
        Some(false) if !allowed(&caller, Action::Deactivate, &target) => {
            return Err(refused(&caller, Action::Deactivate, &target))
        }
        Some(true) if !allowed(&caller, Action::Reactivate, &target) => {
            return Err(refused(&caller, Action::Reactivate, &target))
        }
        Some(false) => ctx.keep_a_fintract_admin(&target).await?,
        _ => {}
    }
    let new_email = changes
        .text
        .iter()
        .find(|(field, _)| *field == Editable::Email)
        .map(|(_, v)| v.clone());
    let moving_email = new_email.as_deref().filter(|e| is_new_address(&target, e));
    let new_phone = changes
        .value(Editable::Phone)
        .filter(|p| *p != target.phone)
        .map(str::to_string);
    let reauthenticated = moving_email.is_some() || new_phone.is_some();
    if reauthenticated {
        let Some(presented) = changes.current_password.clone() else {
            return Err(password_refusal(PASSWORD_NEEDED));
        };
        ctx.reauthenticate(&caller, &claims, presented).await?;
    }
    // After the password: whether an address is taken is no answer for a stolen token alone.
    if let Some(email) = &new_email {
        if ctx
            .store
            .user_by_email(email)
            .await?
            .is_some_and(|owner| owner.id != id)
        {
            let mut fields = std::collections::BTreeMap::new();
            fields.insert("email".to_string(), taken_message("email"));
            return Err(ApiError::invalid_fields(fields));
        }
    }
    if new_phone.is_some() {
        ctx.throttle(
            "phone-change",
            &id.to_string(),
            PHONE_CHANGES_PER_HOUR,
            3600,
        )
        .await?;
    }
    // Spent before the write, so that past the budget nothing is written and nothing sent.
    if let Some(email) = moving_email {
        ctx.budget_verification_mail(&req, id, email).await?;
    }
    let mut pending = None;
    ctx.modify_user(id, |user| {
        // Judged again on the user as written: a change made meanwhile may turn a no-op into a
        // change of address or number, which needs the password.
        if !reauthenticated && changes.redirects(user) {
            return Err(password_refusal(PASSWORD_NEEDED));
        }
        pending = None;
        for (field, value) in &changes.text {
            if let Some(email) = field.apply(user, value.clone()) {
                pending = Some(email);
            }
        }
        match changes.is_active {
            Some(false) if user.is_active => {
                user.is_active = false;
                user.token_version += 1;
            }
            Some(true) => user.is_active = true,
            _ => {}
        }
        Ok(())
    })
    .await?;
    if changes.is_active == Some(false) {
        ctx.confirm_a_fintract_admin_remains(&target).await?;
        if target.is_active {
            let event = Event::Deactivated { by_admin: true };
            ctx.security_notice(&req, &target.email, event).await;
        }
    }
    if let Some(email) = &pending {
        if let Err(e) = ctx.send_verification(&base_url, id, email).await {
            tracing::error!(user_id = id, error = ?e, "verification e-mail for the new address not sent");
        }
    }
    if pending.is_some() || new_phone.is_some() {
        let event = Event::DetailsChanging {
            new_email: pending.as_deref(),
            new_phone: new_phone.as_deref(),
        };
        ctx.security_notice(&req, &target.email, event).await;
    }
    Ok(json(
        StatusCode::OK,
        &json!({"message": "Updated Successfully"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_editable_field_lands_in_its_own_place_and_nowhere_else() {
        let blank = shared::model::NewUser {
            name: "Before".into(),
            phone: "+256700000000".into(),
            customer_id: "C001".into(),
            ..shared::model::NewUser::sample("before", shared::model::UserType::Customer)
        }
        .into_user(1);
        for field in Editable::ALL {
            let mut user = blank.clone();
            let pending = field.apply(&mut user, "changed@example.com".into());
            let changed: Vec<_> = [
                ("email", user.pending_email.is_some()),
                ("username", user.username != blank.username),
                ("name", user.name != blank.name),
                ("phone", user.phone != blank.phone),
                ("country", user.country != blank.country),
                ("citizenship", user.citizenship != blank.citizenship),
                ("national_id", user.national_id != blank.national_id),
                ("address", user.address != blank.address),
            ]
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| name)
            .collect();
            assert_eq!(changed, [field.name()], "{field:?}");
            assert_eq!(pending.is_some(), field == Editable::Email, "{field:?}");
        }
    }

    #[test]
    fn only_a_new_address_is_mailed() {
        let mut user =
            shared::model::NewUser::sample("mover", shared::model::UserType::Customer).into_user(1);
        let current = user.email.clone();
        let apply = |user: &mut User, value: &str| Editable::Email.apply(user, value.into());
        assert_eq!(apply(&mut user, &current), None);
        assert_eq!(apply(&mut user, &current.to_uppercase()), None);
        assert_eq!(user.pending_email, None);
        assert_eq!(
            apply(&mut user, "new@example.org").as_deref(),
            Some("new@example.org")
        );
        assert_eq!(apply(&mut user, "new@example.org"), None, "already pending");
        assert_eq!(apply(&mut user, "NEW@example.org"), None, "already pending");
        assert_eq!(user.pending_email.as_deref(), Some("new@example.org"));
        assert_eq!(
            apply(&mut user, "other@example.org").as_deref(),
            Some("other@example.org")
        );
        assert_eq!(apply(&mut user, &current), None, "back to the current one");
        assert_eq!(user.pending_email, None);
    }
}
