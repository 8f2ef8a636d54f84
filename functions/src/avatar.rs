//! `POST /auth/avatar/{id}/`: the user's own avatar. The object is written first and the user
//! record second (the record never points at a missing object; a failed record write removes the
//! new object), then the replaced avatar is deleted. What is stored is the image decoded and
//! encoded again (`shared::upload::accept`), served inline as its stored type.

use rand::RngCore;
use serde_json::json;
use shared::blob::{avatar_meta, avatar_prefix};
use shared::http::{json, path_id, StatusCode};
use shared::upload::{accept, file_part, Kind};
use shared::views::account_object;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

const ACCEPTED: &[Kind] = &[Kind::Png, Kind::Jpeg, Kind::Webp];

/// A random object name, so keys reveal nothing and never collide.
pub fn random_name(kind: Kind) -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{}.{}", shared::crypto::hex(&bytes), kind.extension())
}

#[tracing::instrument(skip_all)]
pub async fn handle(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let caller = ctx.authenticate(&req).await?;
    let id = path_id(&req, "id")?;
    if caller.id != id {
        return Err(ApiError::user_not_found());
    }
    let file = file_part(&req, ctx.config.avatar_max_bytes).await?;
    let image = accept(file.bytes, ACCEPTED, "a PNG, JPEG or WebP image").await?;
    let key = format!("{}{}", avatar_prefix(id), random_name(image.kind));
    ctx.blobs
        .put(&key, image.bytes, &avatar_meta(&key))
        .await
        .map_err(ApiError::internal)?;

    let mut replaced = None;
    let updated = ctx
        .modify_user(id, |user| {
            replaced = user.avatar_key.replace(key.clone());
            Ok(())
        })
        .await;
    let user = match updated {
        Ok(user) => user,
        Err(e) => {
            if let Err(cleanup) = ctx.blobs.delete(&key).await {
                tracing::error!(%key, error = %cleanup, "orphan avatar object left after a failed record write");
            }
            return Err(e);
        }
    };
    if let Some(old) = replaced.filter(|old| *old != key) {
        if let Err(e) = ctx.blobs.delete(&old).await {
            tracing::warn!(key = %old, error = %e, "replaced avatar not deleted");
        }
    }
    let url = ctx.avatar_url(&user).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({ "user": account_object(&user, url) }),
    ))
}
