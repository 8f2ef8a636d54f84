//! `GET /.well-known/jwks.json` and `GET /.well-known/oauth-authorization-server`: the public
//! keys tokens are signed with, and the issuer's metadata (RFC 8414), so that a partner checks a
//! token knowing only this API's URL. Both may be cached for [`KEY_CACHE_SECS`]: a new key is
//! published that long before it signs (ARCHITECTURE.md §6).

use shared::http::{json, StatusCode};
use shared::keys::KEY_CACHE_SECS;
use shared::{ApiError, ApiResult, Body, Ctx, Request, Response};

fn cacheable(mut response: Response<Body>) -> Response<Body> {
    if let Ok(v) = format!("public, max-age={KEY_CACHE_SECS}").parse() {
        response
            .headers_mut()
            .insert(http::header::CACHE_CONTROL, v);
    }
    response
}

/// The published key set (RFC 7517): public keys only, the retiring and the coming ones included.
#[tracing::instrument(skip_all)]
pub async fn jwks(ctx: &Ctx, _req: Request) -> ApiResult<Response<Body>> {
    // Before any publication (a laptop's fresh database): the keys this function was given.
    let set = match ctx.store.published_keys().await? {
        Some(set) => set,
        None => match (&ctx.config.public_keys, &ctx.config.signing_keys) {
            (Some(public), _) => public.clone(),
            (None, Some(signing)) => signing.public(),
            (None, None) => Default::default(),
        },
    };
    if set.keys.is_empty() {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "No signing keys are published yet.",
        );
        e.retry_after = Some(KEY_CACHE_SECS as u64);
        return Err(e);
    }
    Ok(cacheable(json(StatusCode::OK, &set.jwks())))
}

/// RFC 8414's authorization server metadata, with every field it requires. There is no
/// authorization endpoint (sign-in is a direct exchange), so no response type is supported.
#[tracing::instrument(skip_all)]
pub async fn metadata(ctx: &Ctx, req: Request) -> ApiResult<Response<Body>> {
    let issuer = ctx.public_base_url(&req)?;
    Ok(cacheable(json(
        StatusCode::OK,
        &serde_json::json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/token/"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
        }),
    )))
}
