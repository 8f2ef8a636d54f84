//! E-mail verification: the single-use link a registration or a new address gets, and the base
//! URL links to this API are built on.

use crate::error::{ApiError, ApiResult};
use crate::notify::{Channel, Message};
use crate::store::Verification;
use crate::Ctx;

impl Ctx {
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
                token_hash: crate::crypto::sha256_hex(&token),
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
}
