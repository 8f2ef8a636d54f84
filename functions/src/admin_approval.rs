//! `POST /auth/admin_approval/`: a FINTRACT_ADMIN binds a bank customer id to the one account it
//! belongs to; that account's bank data is served from the next request on. A customer id given
//! at registration is only a claim, and several accounts may claim one: with exactly one verified
//! claimant the published body approves it; with several the answer is 409 listing them, and an
//! added `user_id` chooses. The other claims are turned away, and told so by mail.
//!
//! The claims are listed by `GET` on the same path (the customer-claims function).

use serde_json::json;
use shared::claims::claimant;
use shared::fields::Fields;
use shared::http::{json, StatusCode};
use shared::model::{User, UserType};
use shared::notify::{Channel, Message};
use shared::users::new_customer_id;
use shared::validate::is_customer_id;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.approver(&req).await?;
    let mut f = Fields::from_request(&req)?;
    let customer_id = f.required_str("customer_id", 32);
    if !customer_id.is_empty() && !is_customer_id(&customer_id) {
        f.problem("customer_id", "Use 1 to 32 letters and digits.");
    }
    let chosen_id = f.optional_u64("user_id");
    f.finish()?;

    if let Some(bound) = ctx.store.user_by_customer_id(&customer_id).await? {
        // Approving twice is no error; choosing someone else once it is bound is.
        if chosen_id.is_some_and(|id| id != bound.id) {
            return Err(ApiError::conflict(
                "This customer id is already bound to another account.",
            ));
        }
        return Ok(approved());
    }
    let claimants = ctx.claimants_of(&customer_id).await?;
    let verified: Vec<&User> = claimants.iter().filter(|u| u.is_verified).collect();
    let chosen = match (chosen_id, verified.as_slice()) {
        (Some(id), _) => verified
            .iter()
            .find(|u| u.id == id)
            .copied()
            .ok_or_else(ApiError::user_not_found)?,
        (None, []) => return Err(ApiError::user_not_found()),
        (None, [only]) => *only,
        (None, several) => {
            return Ok(json(
                StatusCode::CONFLICT,
                &json!({
                    "error": "Several verified accounts claim this customer id: choose one with user_id.",
                    "claimants": several.iter().map(|u| claimant(u)).collect::<Vec<_>>(),
                }),
            ))
        }
    };
    let chosen_id = chosen.id;
    ctx.modify_user(chosen_id, |u| {
        if u.customer_id != customer_id || u.user_type != UserType::Customer {
            return Err(ApiError::conflict(
                "The account no longer claims this customer id.",
            ));
        }
        u.admin_approved = true;
        Ok(())
    })
    .await?;
    tracing::info!(
        user_id = chosen_id,
        approved_by = caller.id,
        "customer id bound"
    );
    // Bounded, so that a flood of claims cannot make the approval time out once it is done;
    // any claim left over binds nothing, and expires or can be approved no more.
    for other in claimants
        .iter()
        .filter(|u| u.id != chosen_id)
        .take(TURNED_AWAY_AT_MOST)
    {
        turn_away(ctx, other, &customer_id).await;
    }
    Ok(approved())
}

/// How many other claims one approval releases and tells.
const TURNED_AWAY_AT_MOST: usize = 25;

fn approved() -> Response<Body> {
    json(StatusCode::OK, &json!({"msg": "User admin approved"}))
}

/// Releases `user`'s claim to `customer_id` (the account stays, with an id of its own) and tells
/// them by mail. A failure is logged: the claim binds nothing either way.
async fn turn_away(ctx: &Ctx, user: &User, customer_id: &str) {
    let released = ctx
        .modify_user(user.id, |u| {
            if u.customer_id == customer_id && !u.admin_approved {
                u.customer_id = new_customer_id();
            }
            Ok(())
        })
        .await;
    if let Err(e) = released {
        tracing::error!(user_id = user.id, error = ?e, "claim not released");
        return;
    }
    // An address nobody proved is not written to: it may be a stranger's chosen target.
    if !user.is_verified {
        return;
    }
    let message = Message {
        channel: Channel::Email,
        to: user.email.clone(),
        subject: "Your bank customer link was not confirmed".into(),
        body: format!(
            "Your Fintract account {} asked to be linked to a bank customer record. The bank \
             confirmed that record for another account, so yours was not linked.\n\nYour account \
             stays open. If you are that bank customer, contact your bank.",
            user.username
        ),
    };
    if let Err(e) = ctx.notifier.send(&message).await {
        tracing::error!(user_id = user.id, error = ?e, "turned-away notice not sent");
    }
}
