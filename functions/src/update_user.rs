//! `PATCH /auth/update/usr/{id}/`: partial profile update for that user, or an admin the role
//! table (`shared::roles`) lets act on them. Role, approval and verification flags are never
//! writable here; `is_active` only by an admin acting on someone else.
//! A new e-mail address takes effect only once its verification link is opened.

use serde_json::{json, Value};
use shared::http::{body_object, json, path_id, Fields, StatusCode};
use shared::roles::{allowed, refused, Action};
use shared::users::{taken_message, user_not_found};
use shared::validate::{is_username, normalize_phone};
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

/// What the owner may change; blank means "leave as it is", as in the seed's sample request.
const EDITABLE: [(&str, usize); 8] = [
    ("email", 254),
    ("username", 150),
    ("name", 150),
    ("phone", 32),
    ("country", 64),
    ("citizenship", 64),
    ("national_id", 64),
    ("address", 256),
];

#[derive(Default)]
struct Changes {
    text: Vec<(&'static str, String)>,
    is_active: Option<bool>,
}

fn parse(req: &Request, admin: bool) -> ApiResult<Changes> {
    let map = body_object(req)?;
    let mut changes = Changes::default();
    let mut f = Fields::new(map.clone());
    for key in map.keys() {
        let allowed = EDITABLE.iter().any(|(k, _)| k == key) || (admin && key == "is_active");
        if !allowed {
            f.problem(key, "This field cannot be changed here.");
        }
    }
    for (name, max) in EDITABLE {
        let Some(value) = f.optional_str(name, max).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = match name {
            "email" => match f.email(name, false) {
                Some(v) => v,
                None => continue,
            },
            "username" if !is_username(&value) => {
                f.problem(name, "Use 3 to 150 letters, digits and @ . + - _ only.");
                continue;
            }
            "phone" => match normalize_phone(&value) {
                Some(v) => v,
                None => {
                    f.problem(
                        name,
                        "Enter a phone number of 7 to 15 digits, optionally starting with +.",
                    );
                    continue;
                }
            },
            _ => value,
        };
        changes.text.push((name, value));
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
    let caller = ctx.authenticate(&req).await?;
    let id = path_id(&req, "id")?;
    let target = ctx.store.user(id).await?.ok_or_else(user_not_found)?;
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
        .find(|(k, _)| *k == "email")
        .map(|(_, v)| v.clone());
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
    let mut pending = None;
    ctx.modify_user(id, |user| {
        pending = None;
        for (name, value) in &changes.text {
            let value = value.clone();
            match *name {
                "email" if value == user.email => user.pending_email = None,
                "email" => {
                    pending = Some(value.clone());
                    user.pending_email = Some(value);
                }
                "username" => user.username = value,
                "name" => user.name = value,
                "phone" => user.phone = value,
                "country" => user.country = value,
                "citizenship" => user.citizenship = value,
                "national_id" => user.national_id = value,
                _ => user.address = value,
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
    }
    if let Some(email) = pending {
        if let Err(e) = ctx.send_verification(&base_url, id, &email).await {
            tracing::error!(user_id = id, error = ?e, "verification e-mail for the new address not sent");
        }
    }
    Ok(json(
        StatusCode::OK,
        &json!({"message": "Updated Successfully"}),
    ))
}
