//! Domain models: users, bank accounts, loans.

use serde::{Deserialize, Serialize};

/// The five roles of ARCHITECTURE.md §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserType {
    Customer,
    BankAdmin,
    FintractAdmin,
    Developer,
    DeveloperAdmin,
}

impl UserType {
    /// Parses any case and `-`/`_` spelling (`Developer`, `bank_admin`, `FINTRACT_ADMIN`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "CUSTOMER" => Some(Self::Customer),
            "BANK_ADMIN" => Some(Self::BankAdmin),
            "FINTRACT_ADMIN" => Some(Self::FintractAdmin),
            "DEVELOPER" => Some(Self::Developer),
            "DEVELOPER_ADMIN" => Some(Self::DeveloperAdmin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "CUSTOMER",
            Self::BankAdmin => "BANK_ADMIN",
            Self::FintractAdmin => "FINTRACT_ADMIN",
            Self::Developer => "DEVELOPER",
            Self::DeveloperAdmin => "DEVELOPER_ADMIN",
        }
    }

    /// Bank and Fintract admins read any customer's data.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::BankAdmin | Self::FintractAdmin)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Gender {
    Male,
    Female,
}

/// A user of either API. `password_hash` never leaves the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub email: String,
    pub name: String,
    pub phone: String,
    pub user_type: UserType,
    pub customer_id: String,
    #[serde(default)]
    pub gender: Option<Gender>,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub citizenship: String,
    #[serde(default)]
    pub national_id: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub bank: String,
    #[serde(default)]
    pub avatar_key: Option<String>,
    pub password_hash: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub admin_approved: bool,
    /// Bumped to revoke every token issued before (`ver` claim).
    pub token_version: u64,
    pub created_at: i64,
    #[serde(default)]
    pub last_login: Option<i64>,
    /// A new e-mail address waiting for its verification link; the old one stays in use until then.
    #[serde(default)]
    pub pending_email: Option<String>,
    /// Whether `phone` was confirmed with a code sent to it: only then does it receive sign-in
    /// codes. Accounts stored before confirmation existed start unconfirmed.
    #[serde(default)]
    pub phone_verified: bool,
    /// Logins (and dashboard sessions) ended before their tokens expire, each kept until the
    /// last token it could have issued has (`shared::sessions`): read with the user on every
    /// authenticated request, so ending a session costs no read of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended_sessions: Vec<EndedSession>,
    /// Devices made known before this time are known no more (set when every session ends).
    #[serde(default)]
    pub devices_since: i64,
    /// The authenticator app (TOTP), once its enrolment was confirmed: then sign-in codes by
    /// e-mail or SMS no longer sign this account in (`shared::authenticator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<Authenticator>,
    /// An authenticator being enrolled, until a first code from it confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_pending: Option<PendingAuthenticator>,
    /// Bumped by the store on every write: the optimistic-concurrency guard of `update_user`.
    #[serde(default)]
    pub rev: u64,
}

/// An account's authenticator app. Its secret is sealed (AES-256-GCM under a key derived from
/// `OTP_KEY`, bound to the user id); recovery codes are kept only as HMACs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticator {
    pub secret: String,
    pub since: i64,
    /// The last time step whose code was accepted: a code of it, or of an earlier step, is
    /// refused (no replay within the code's window).
    pub last_step: u64,
    /// The unused recovery codes' hashes.
    pub recovery_codes: Vec<String>,
    /// The hashes of the device tokens of devices that signed in with the app (or a recovery
    /// code), newest last, at most [`Authenticator::APP_DEVICES`]: a sign-in from one of them,
    /// while it is a known device, spends a budget of app codes of its own (`shared::otp`).
    #[serde(default)]
    pub app_devices: Vec<String>,
}

impl Authenticator {
    /// How many devices that signed in with the app are remembered.
    pub const APP_DEVICES: usize = 10;

    /// Remembers the device whose token hashes to `token_hash` as one that signed in with the
    /// app (the oldest is forgotten past [`Authenticator::APP_DEVICES`]).
    pub fn remember_app_device(&mut self, token_hash: String) {
        self.app_devices.retain(|h| *h != token_hash);
        self.app_devices.push(token_hash);
        let excess = self.app_devices.len().saturating_sub(Self::APP_DEVICES);
        self.app_devices.drain(..excess);
    }
}

/// An authenticator enrolment waiting for its first code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthenticator {
    pub secret: String,
    pub expires_at: i64,
    pub tries_left: u32,
}

/// A session ended early: its tokens are refused until `until`, when the last of them expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedSession {
    pub id: String,
    pub until: i64,
}

/// The most ended sessions kept on a user; ending one more ends them all instead (the token
/// version moves on), so the user record stays small.
pub const MAX_ENDED_SESSIONS: usize = 50;

impl User {
    /// Whether session `id` (a login family, or a dashboard session) was ended.
    pub fn session_ended(&self, id: &str) -> bool {
        self.ended_sessions.iter().any(|e| e.id == id)
    }

    /// Ends session `id` until `until`, dropping the entries whose tokens have all expired by
    /// `now`; past [`MAX_ENDED_SESSIONS`], every session ends instead.
    pub fn end_session(&mut self, id: &str, until: i64, now: i64) {
        self.ended_sessions.retain(|e| e.until > now);
        if self.session_ended(id) {
            return;
        }
        if self.ended_sessions.len() >= MAX_ENDED_SESSIONS {
            self.token_version += 1;
            self.ended_sessions.clear();
            return;
        }
        self.ended_sessions.push(EndedSession {
            id: id.to_string(),
            until,
        });
    }

    /// Whether this account may hold tokens at all (ARCHITECTURE.md §5).
    pub fn may_hold_tokens(&self) -> bool {
        self.is_active && self.is_verified
    }

    /// Whether this is the account a bank customer id is bound to: a customer a Fintract admin
    /// approved. Before that its `customer_id` is only a claim, which others may share.
    pub fn holds_customer_link(&self) -> bool {
        self.user_type == UserType::Customer && self.admin_approved
    }
}

/// A user about to be created; the store assigns the id.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub name: String,
    pub phone: String,
    pub user_type: UserType,
    pub customer_id: String,
    pub gender: Option<Gender>,
    pub password_hash: String,
    pub is_verified: bool,
    pub admin_approved: bool,
    pub created_at: i64,
}

impl NewUser {
    /// A verified, approved account of `user_type` named `username`, for tests.
    #[cfg(any(test, feature = "fixtures"))]
    pub fn sample(username: &str, user_type: UserType) -> Self {
        NewUser {
            username: username.into(),
            email: "sample@example.com".into(),
            name: String::new(),
            phone: String::new(),
            user_type,
            customer_id: String::new(),
            gender: None,
            password_hash: String::new(),
            is_verified: true,
            admin_approved: true,
            created_at: 0,
        }
    }

    pub fn into_user(self, id: u64) -> User {
        User {
            id,
            username: self.username,
            email: self.email,
            name: self.name,
            phone: self.phone,
            user_type: self.user_type,
            customer_id: self.customer_id,
            gender: self.gender,
            country: String::new(),
            citizenship: String::new(),
            national_id: String::new(),
            address: String::new(),
            bank: String::new(),
            avatar_key: None,
            password_hash: self.password_hash,
            is_active: true,
            is_verified: self.is_verified,
            admin_approved: self.admin_approved,
            token_version: 0,
            created_at: self.created_at,
            last_login: None,
            pending_email: None,
            phone_verified: false,
            ended_sessions: Vec::new(),
            devices_since: 0,
            authenticator: None,
            authenticator_pending: None,
            rev: 0,
        }
    }
}

/// A bank account of a customer. Money is in the currency's minor unit (UGX has none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub balance: i64,
    pub currency: String,
}

/// A loan on an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loan {
    pub loan_id: String,
    /// RFC 3339, UTC, as published (`2023-02-16T12:24:54Z`).
    pub disbursement_date: String,
    pub principal: i64,
    pub outstanding_amount: i64,
}

/// An account together with all its loans: what the loans endpoint reads in one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountWithLoans {
    pub account: Account,
    pub loans: Vec<Loan>,
}

/// Normalises an e-mail address for uniqueness: trimmed and lower-cased. (Usernames were keyed
/// the same way before [`username_key`]; claims of that design are found with it too.)
pub fn unique_key(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The key a username is unique under and found by: the UTS #39 confusable skeleton of the
/// trimmed, lower-cased name, so `ADMIN`, `admin` and `аdmin` (Cyrillic а) are one name, as are
/// `paypal` and `paypa1` (UTS #39 holds `l`, `1` and `I` confusable). Lower-casing comes first:
/// the skeleton maps `I` to `l`, which would otherwise part `ADMIN` from `admin`. The skeleton
/// is a function of the previous key ([`unique_key`]), and applying it twice changes nothing,
/// so a claim is of the previous design exactly when its key is not its own skeleton.
pub fn username_key(s: &str) -> String {
    skeleton_of_key(&unique_key(s))
}

/// The skeleton of a key that is already trimmed and lower-cased.
pub fn skeleton_of_key(key: &str) -> String {
    unicode_security::skeleton(key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_are_kept_until_their_tokens_expire_and_stay_few() {
        let mut user = NewUser::sample("ender", UserType::Customer).into_user(1);
        user.end_session("a", 100, 0);
        user.end_session("a", 500, 0);
        assert!(user.session_ended("a") && !user.session_ended("b"));
        assert_eq!(user.ended_sessions.len(), 1, "once");
        user.end_session("b", 300, 100);
        assert!(!user.session_ended("a"), "a's tokens expired at 100");
        assert!(user.session_ended("b"));
        for n in 0..MAX_ENDED_SESSIONS {
            user.end_session(&format!("s{n}"), 1_000, 200);
        }
        assert_eq!(user.token_version, 1, "past the limit, every session ends");
        assert!(user.ended_sessions.is_empty());
    }

    /// Pairs UTS #39's confusables.txt maps to one prototype, in any case.
    #[test]
    fn app_devices_are_remembered_once_and_stay_few() {
        let mut app = Authenticator {
            secret: String::new(),
            since: 0,
            last_step: 0,
            recovery_codes: Vec::new(),
            app_devices: Vec::new(),
        };
        for n in 0..12 {
            app.remember_app_device(format!("d{n}"));
        }
        app.remember_app_device("d5".into());
        assert_eq!(app.app_devices.len(), Authenticator::APP_DEVICES);
        assert_eq!(app.app_devices.first().map(String::as_str), Some("d2"));
        assert_eq!(app.app_devices.last().map(String::as_str), Some("d5"));
        assert_eq!(app.app_devices.iter().filter(|h| *h == "d5").count(), 1);
        // A record written before the field existed reads as remembering none.
        let old: Authenticator =
            serde_json::from_str(r#"{"secret":"s","since":1,"last_step":2,"recovery_codes":[]}"#)
                .unwrap();
        assert!(old.app_devices.is_empty());
    }

    #[test]
    fn confusable_usernames_share_a_key() {
        for (a, b) in [
            ("admin", "\u{430}dmin"),                     // Cyrillic а (U+0430)
            ("ADMIN", "admin"),                           // case
            ("paypal", "paypa1"),                         // 1 → l
            ("bob", "b\u{43e}b"),                         // Cyrillic о (U+043E)
            ("ace", "\u{410}\u{421}\u{415}"),             // Cyrillic АСЕ, upper case
            ("corn", "com"),                              // rn → m
            ("file", "\u{fb01}le"),                       // the ligature ﬁ
            ("file", "\u{ff46}\u{ff49}\u{ff4c}\u{ff45}"), // fullwidth ｆｉｌｅ
            ("scope", "\u{455}cope"),                     // Cyrillic ѕ (U+0455)
            (" bob ", "bob"),                             // surrounding space
        ] {
            assert_eq!(username_key(a), username_key(b), "{a} / {b}");
        }
        // Lower-casing comes first, so I is i and not the l it is confusable with; 1 is l, not i.
        assert_ne!(username_key("paypaI"), username_key("paypal"));
        for (a, b) in [("admin", "adm1n"), ("alice", "alicia"), ("o0", "oo")] {
            assert_ne!(username_key(a), username_key(b), "{a} / {b}");
        }
    }

    #[test]
    fn a_skeleton_key_is_its_own_skeleton() {
        for name in [
            "admin",
            "\u{430}dmin",
            "JohnDoe0303",
            "\u{438}\u{432}\u{430}\u{43d}",
        ] {
            let key = username_key(name);
            assert_eq!(skeleton_of_key(&key), key, "{name}");
            assert_eq!(skeleton_of_key(&unique_key(name)), key, "{name}");
        }
    }

    #[test]
    fn user_types_parse_in_any_case() {
        assert_eq!(UserType::parse("Developer"), Some(UserType::Developer));
        assert_eq!(UserType::parse("bank-admin"), Some(UserType::BankAdmin));
        assert_eq!(UserType::parse("ROOT"), None);
        assert_eq!(
            serde_json::to_string(&UserType::FintractAdmin).unwrap(),
            "\"FINTRACT_ADMIN\""
        );
    }
}
