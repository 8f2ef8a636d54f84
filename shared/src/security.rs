//! Security mail (ARCHITECTURE.md §6): the account's verified address is told of every event
//! that would matter if someone else had caused it: a sign-in from a device not seen before, a
//! password change or reset, a change of e-mail address or phone number, an authenticator app
//! turned on or off, a recovery code used, a deactivation. Each says what happened, when (UTC),
//! from which source address and user agent, and what to do if it was not them.
//!
//! A notice is sent after the change it reports is written, and a failure to send it is logged,
//! never answered: the change stands either way.

use crate::notify::{Channel, Message};
use crate::Ctx;

/// What a security notice reports.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A sign-in that presented no known device token; `how` names the sign-in path.
    NewDevice { how: &'a str },
    /// The password was changed by its owner, signed in.
    PasswordChanged,
    /// The password was reset through a link sent to this address.
    PasswordReset,
    /// A change of e-mail address (pending until its link is opened) or of phone number.
    DetailsChanging {
        new_email: Option<&'a str>,
        new_phone: Option<&'a str>,
    },
    /// An authenticator app was turned on.
    AuthenticatorOn,
    /// The authenticator app was removed: with a code from it or a recovery code, or by an
    /// administrator.
    AuthenticatorOff { by_admin: bool },
    /// A recovery code signed the account in; `left` remain.
    RecoveryCodeUsed { left: usize },
    /// The recovery codes were replaced with new ones (with a current code from the app).
    RecoveryCodesReplaced,
    /// The account was deactivated: by its own session, or by an administrator.
    Deactivated { by_admin: bool },
}

/// What to do when an event was not the account holder's.
const CHANGE_PASSWORD: &str = "If this was not you, reset your password now \
     (POST /auth/password-reset/), sign out every session (POST /auth/logout-all/), and tell us.";

/// The same for a deactivated account, which can neither sign in nor be reset until an
/// administrator reactivates it.
const ASK_AN_ADMINISTRATOR: &str = "If this was not you, ask an administrator to reactivate \
     the account, then reset your password (POST /auth/password-reset/).";

impl Event<'_> {
    fn advice(&self) -> &'static str {
        match self {
            Event::Deactivated { .. } => ASK_AN_ADMINISTRATOR,
            _ => CHANGE_PASSWORD,
        }
    }

    fn subject(&self) -> &'static str {
        match self {
            Event::NewDevice { .. } => "New sign-in to your Fintract account",
            Event::PasswordChanged => "Your Fintract password was changed",
            Event::PasswordReset => "Your Fintract password was reset",
            Event::DetailsChanging { .. } => "Your Fintract account details are changing",
            Event::AuthenticatorOn => "An authenticator app now protects your Fintract account",
            Event::AuthenticatorOff { .. } => {
                "The authenticator app was removed from your Fintract account"
            }
            Event::RecoveryCodeUsed { .. } => "A recovery code was used on your Fintract account",
            Event::RecoveryCodesReplaced => "New recovery codes for your Fintract account",
            Event::Deactivated { .. } => "Your Fintract account was deactivated",
        }
    }

    fn what(&self) -> String {
        match self {
            Event::NewDevice { how } => format!(
                "Your account was signed in ({how}) from a device it had not been signed in from \
                 before (or one signed out since)."
            ),
            Event::PasswordChanged => "Your password was changed. Every other session was \
                 signed out."
                .into(),
            Event::PasswordReset => "Your password was reset with a link sent to this address. \
                 Every session was signed out."
                .into(),
            Event::DetailsChanging {
                new_email,
                new_phone,
            } => {
                let mut what = Vec::new();
                if let Some(email) = new_email {
                    what.push(format!(
                        "- A change of its e-mail address to {email} was requested. It takes \
                         effect once the link sent there is opened; until then this address \
                         stays in use."
                    ));
                }
                if let Some(phone) = new_phone {
                    let tail: String = phone
                        .chars()
                        .skip(phone.chars().count().saturating_sub(3))
                        .collect();
                    what.push(format!(
                        "- Its phone number was changed to one ending in {tail}. It receives no \
                         sign-in codes until it is confirmed."
                    ));
                }
                format!(
                    "Confirmed with the password of whoever made it:\n\n{}",
                    what.join("\n")
                )
            }
            Event::AuthenticatorOn => "An authenticator app was turned on. From now on, sign-in \
                 codes by e-mail or SMS no longer sign you in: use the app, or one of your \
                 recovery codes."
                .into(),
            Event::AuthenticatorOff { by_admin } => format!(
                "The authenticator app was removed {}. Sign-in codes go by e-mail or SMS again.",
                match by_admin {
                    true => "by an administrator",
                    false => "with a current code from it or a recovery code",
                }
            ),
            Event::RecoveryCodesReplaced => "New recovery codes were made for your authenticator \
                 app, with a current code from it. The earlier ones no longer work."
                .into(),
            Event::RecoveryCodeUsed { left } => format!(
                "A recovery code signed your account in instead of the authenticator app. \
                 {left} unused recovery codes remain."
            ),
            Event::Deactivated { by_admin } => format!(
                "Your account was deactivated by {}. Its tokens no longer work; an \
                 administrator can reactivate it.",
                match by_admin {
                    true => "an administrator",
                    false => "a signed-in session of yours",
                }
            ),
        }
    }
}

/// The body of a notice of `event`, at `now`, from `source` with `user_agent`.
pub fn notice_body(event: Event<'_>, now: i64, source: &str, user_agent: &str) -> String {
    let agent = if user_agent.is_empty() {
        String::new()
    } else {
        format!(" ({user_agent})")
    };
    format!(
        "On {when}, from {source}{agent}:\n\n{what}\n\n{advice}",
        when = crate::utc::Utc::of(now).readable(),
        what = event.what(),
        advice = event.advice(),
    )
}

impl Ctx {
    /// Mails `to` (the account's verified address) a notice of `event`, made by `req`. A
    /// failure is logged; the event stands.
    pub async fn security_notice(&self, req: &crate::Request, to: &str, event: Event<'_>) {
        let origin = crate::sessions::Origin::of(req);
        let source = if origin.source_ip.is_empty() {
            "an unknown address"
        } else {
            &origin.source_ip
        };
        let message = Message {
            channel: Channel::Email,
            to: to.to_string(),
            subject: event.subject().into(),
            body: notice_body(event, self.now(), source, &origin.user_agent),
        };
        if let Err(e) = self.notifier.send(&message).await {
            tracing::error!(error = ?e, event = ?event, "security notice not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_says_what_when_where_and_what_to_do() {
        let body = notice_body(
            Event::DetailsChanging {
                new_email: Some("new@example.com"),
                new_phone: Some("+256700000123"),
            },
            951_782_400,
            "203.0.113.9",
            "curl/8",
        );
        assert!(body.contains("2000-02-29 00:00 UTC"), "{body}");
        assert!(body.contains("203.0.113.9 (curl/8)"), "{body}");
        assert!(body.contains("new@example.com"), "{body}");
        assert!(body.contains("ending in 123"), "{body}");
        assert!(body.contains("If this was not you"), "{body}");
        assert!(body.contains("POST /auth/logout-all/"), "{body}");
    }

    #[test]
    fn a_deactivated_account_is_not_told_to_do_what_it_cannot() {
        let body = notice_body(
            Event::Deactivated { by_admin: true },
            951_782_400,
            "203.0.113.9",
            "",
        );
        assert!(body.contains("If this was not you"), "{body}");
        assert!(body.contains("ask an administrator"), "{body}");
        assert!(!body.contains("logout-all"), "it cannot sign in: {body}");
    }
}
