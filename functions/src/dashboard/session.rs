//! The operator's session: a cookie holding the user id, the user's token version, an expiry and
//! a random session id, signed with HMAC-SHA256 under the dashboard's own key (`DASHBOARD_KEY`,
//! which only the dashboard function holds). Every request re-reads the user, so deactivation or
//! a bumped token version ends the session at once. Signing out clears the cookie in the browser
//! and lists the session id on the user as ended (`shared::sessions`) until the cookie would have
//! expired, so a copy taken before then opens nothing either.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use shared::{Ctx, Request};

use shared::crypto::HmacSha256;

/// The cookie's name.
pub const COOKIE_NAME: &str = "dfcu_dashboard";
/// How long a sign-in lasts: a short life, as the session grants the dashboard and nothing else.
pub const SESSION_SECS: i64 = 30 * 60;
/// Longer cookie values are not even parsed.
const MAX_VALUE_LEN: usize = 200;

/// Who a valid cookie names, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: u64,
    pub token_version: u64,
    pub expires_at: i64,
    /// Random: what signing out lists as ended.
    pub sid: u64,
}

impl Session {
    /// A new session of `user_id` at `token_version`, until `expires_at`.
    pub fn new(user_id: u64, token_version: u64, expires_at: i64) -> Self {
        use rand::RngCore;
        Session {
            user_id,
            token_version,
            expires_at,
            sid: rand::rngs::OsRng.next_u64(),
        }
    }

    /// The id signing out lists on the user (`User::end_session`).
    pub fn ended_id(&self) -> String {
        format!("dashboard:{:016x}", self.sid)
    }
}

/// The key sessions are signed with.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Derives the session key from the dashboard key, labelled, so that nothing else keyed with
    /// it could ever pass for a session cookie.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = shared::crypto::hmac(secret);
        mac.update(b"dfcu-dashboard-session-v1");
        SessionKey(mac.finalize().into_bytes().into())
    }

    /// The key of this deployment, if this function holds the dashboard key.
    pub fn of(ctx: &Ctx) -> Option<Self> {
        ctx.config.dashboard_key.as_deref().map(Self::derive)
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = shared::crypto::hmac(&self.0);
        mac.update(payload.as_bytes());
        mac
    }

    /// The cookie value for `session`: `<user id>.<token version>.<expiry>.<sid>.<signature>`.
    pub fn seal(&self, session: &Session) -> String {
        let payload = format!(
            "{}.{}.{}.{}",
            session.user_id, session.token_version, session.expires_at, session.sid
        );
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The session in `value` if its signature is ours (checked in constant time) and it has
    /// not expired at `now`.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        let (payload, signature) = value.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(payload).verify_slice(&signature).ok()?;
        let mut parts = payload.split('.');
        let session = Session {
            user_id: parts.next()?.parse().ok()?,
            token_version: parts.next()?.parse().ok()?,
            expires_at: parts.next()?.parse().ok()?,
            sid: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && session.expires_at > now).then_some(session)
    }
}

/// Every value the request carries for our cookie (a browser may send several paths' cookies);
/// an empty one is a cleared cookie, no session.
pub fn cookie_values(req: &Request) -> Vec<&str> {
    cookies_named(req, COOKIE_NAME)
}

/// The name of the cookie that holds the browser's device token (`shared::signin`): sent back on
/// later sign-ins, it keeps this browser out of the account's shared budget of wrong passwords.
pub const DEVICE_COOKIE: &str = "dfcu_device";

/// The browser's device token, if it sent one.
pub fn device_token(req: &Request) -> Option<String> {
    cookies_named(req, DEVICE_COOKIE)
        .first()
        .map(|v| v.to_string())
}

/// The `Set-Cookie` value that keeps the device token, for as long as the device stays known.
/// Signing out keeps it: it opens nothing by itself.
pub fn set_device_cookie(value: &str, base: &str, secure: bool) -> String {
    format!(
        "{DEVICE_COOKIE}={value}; Path={base}/api; Max-Age={}; HttpOnly; SameSite=Strict{}",
        shared::signin::DEVICE_TTL_SECS,
        if secure { "; Secure" } else { "" }
    )
}

fn cookies_named<'r>(req: &'r Request, cookie: &str) -> Vec<&'r str> {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == cookie)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
        .collect()
}

/// Whether the client reached us over HTTPS: API Gateway says so in `X-Forwarded-Proto`, and a
/// deployment whose public URL is HTTPS (configured, or API Gateway's own) is reached over
/// nothing else.
pub fn over_https(ctx: &Ctx, req: &Request) -> bool {
    let forwarded = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    forwarded
        || ctx
            .public_base_url(req)
            .is_ok_and(|base| base.starts_with("https://"))
}

/// The `Set-Cookie` value that starts a session; `base` is the stage prefix of the API's URLs.
pub fn set_cookie(value: &str, base: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={value}; Path={base}/api; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(base: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; Path={base}/api; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The CSRF check of the sign-in and sign-out forms. SameSite=Strict already keeps the cookie off
/// cross-site requests; this also refuses a cross-site sign-in (which needs no cookie) by the
/// `Origin` a browser sends with every POST, and by `Sec-Fetch-Site` where it is sent. A client
/// that sends neither (curl, a script) is not a browser that could be tricked.
pub fn same_origin(req: &Request) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(site) = header("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = header("origin") else {
        return true;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (authority, header("host")) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Body;

    fn key() -> SessionKey {
        SessionKey::derive(b"0123456789abcdef0123456789abcdef")
    }

    const S: Session = Session {
        user_id: 7,
        token_version: 2,
        expires_at: 2_000,
        sid: 0xfeed,
    };

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let value = key().seal(&S);
        assert_eq!(key().open(&value, 1_999), Some(S));
        assert_eq!(key().open(&value, 2_000), None);
    }

    #[test]
    fn a_changed_or_foreign_value_does_not_open() {
        let value = key().seal(&S);
        let forged = value.replacen("7.", "1.", 1);
        assert_eq!(key().open(&forged, 0), None);
        let later = value.replacen(".2000.", ".9999.", 1);
        assert_eq!(key().open(&later, 0), None);
        let other = SessionKey::derive(b"another-secret-that-is-32-bytes!");
        assert_eq!(other.open(&value, 0), None);
        for garbage in [
            "",
            ".",
            "a.b.c.d",
            "7.2.2000",
            "7.2.2000.!!",
            "7.2.2000.x.y",
            &"9".repeat(500),
        ] {
            assert_eq!(key().open(garbage, 0), None, "{garbage}");
        }
    }

    #[test]
    fn the_session_key_is_not_the_jwt_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        assert_ne!(&SessionKey::derive(secret).0, secret);
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/api/login/");
        for (name, value) in headers {
            b = b.header(*name, *value);
        }
        b.body(Body::Empty).unwrap()
    }

    #[test]
    fn cookies_are_found_among_others() {
        let r = request(&[
            ("cookie", "a=1; dfcu_dashboard=x.y; b=2"),
            ("cookie", "dfcu_dashboard=z"),
        ]);
        assert_eq!(cookie_values(&r), ["x.y", "z"]);
        assert!(cookie_values(&request(&[("cookie", "other=1")])).is_empty());
        assert!(cookie_values(&request(&[("cookie", "dfcu_dashboard=")])).is_empty());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        let c = set_cookie("v", "/prod", true);
        assert_eq!(
            c,
            "dfcu_dashboard=v; Path=/prod/api; Max-Age=1800; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("v", "", false).contains("Secure"));
        assert!(clear_cookie("", false).contains("Max-Age=0"));
    }

    #[test]
    fn only_same_origin_posts_pass_the_csrf_check() {
        let host = ("host", "127.0.0.1:3000");
        assert!(same_origin(&request(&[host])));
        assert!(same_origin(&request(&[
            host,
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(same_origin(&request(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&request(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&request(&[host, ("origin", "null")])));
        assert!(!same_origin(&request(&[(
            "origin",
            "http://127.0.0.1:3000"
        )])));
        assert!(!same_origin(&request(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
    }
}
