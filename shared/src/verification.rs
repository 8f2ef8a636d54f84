//! E-mail verification: the single-use link a registration or a new address gets, the budget of
//! such mails, and the base URL links to this API are built on.

use crate::error::{ApiError, ApiResult};
use crate::notify::{Channel, Message};
use crate::store::Verification;
use crate::Ctx;

/// Verification mails a change of address may send in [`MAIL_WINDOW_SECS`]: per account (whoever
/// asks), per recipient address (however many accounts ask) and per source address. A person
/// moving address sends one or two; these are far above that, and far below what would harm the
/// sender's reputation (ARCHITECTURE.md §6).
pub const MAILS_PER_ACCOUNT: u64 = 5;
pub const MAILS_PER_RECIPIENT: u64 = 5;
pub const MAILS_PER_SOURCE: u64 = 20;
pub const MAIL_WINDOW_SECS: i64 = 3600;

/// What a 429 of the mail budget says.
pub const TOO_MANY_MAILS: &str =
    "Too many verification e-mails were asked for. Please wait and try again.";

impl Ctx {
    /// Spends one verification mail of account `user_id`'s budget, of the budget of the address
    /// `to` and of the request's source; 429 with `Retry-After` past any of them. Called before
    /// anything is written, so a refused request changes nothing.
    pub async fn budget_verification_mail(
        &self,
        req: &crate::Request,
        user_id: u64,
        to: &str,
    ) -> ApiResult<()> {
        let window = MAIL_WINDOW_SECS;
        let spent = async {
            self.throttle(
                "verify-mail",
                &format!("user:{user_id}"),
                MAILS_PER_ACCOUNT,
                window,
            )
            .await?;
            self.throttle(
                "verify-mail",
                &format!("to:{}", crate::model::unique_key(to)),
                MAILS_PER_RECIPIENT,
                window,
            )
            .await?;
            self.throttle_source("verify-mail", req, MAILS_PER_SOURCE, window)
                .await
        };
        spent.await.map_err(|mut e| {
            if e.status == http::StatusCode::TOO_MANY_REQUESTS {
                e.message = TOO_MANY_MAILS.into();
            }
            e
        })
    }

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
