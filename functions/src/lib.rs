//! The Lambda functions of both APIs and the route registry that names them: one handler module
//! per endpoint, and (in `src/bin/`) one binary per function that serves its registry entry.
//!
//! The registry below is the one source of routes, in the order the two API documents list them
//! (ARCHITECTURE.md §4). Each binary serves its function's entry; the local gateway serves them
//! all; the dashboard lists the counted endpoints; the boot test boots every function with its
//! `events/<function>.json`; the template and OpenAPI checks hold `template.yaml` and
//! `openapi.yaml` to it.
//!
//! Adding an endpoint: its handler module and its line below, its binary in `src/bin/`, its
//! registry entry, then `template.yaml`, `openapi.yaml` and `events/<function>.json`.

pub mod admin_approval;
pub mod authenticator;
pub mod avatar;
pub mod change_password;
pub mod customer_claims;
pub mod dashboard;
pub mod deactivate_account;
pub mod delete_account;
pub mod loans;
pub mod login;
pub mod logout;
pub mod password_reset;
pub mod re_verify_email;
pub mod register;
pub mod sessions;
pub mod token;
pub mod token_refresh;
pub mod update_user;
pub mod update_username;
pub mod upload_file;
pub mod user_info;
pub mod verify_email;
pub mod verify_otp;
pub mod verify_phone;
pub mod well_known;

shared::registry! {
    /// `POST /token/`: username and password for a JWT pair (DFCU API).
    TOKEN = "token" {
        POST "/token/" => token::handle, Public;
    }
    /// `POST /token/refresh/`: rotate a refresh token for a new pair.
    TOKEN_REFRESH = "token-refresh" {
        POST "/token/refresh/" => token_refresh::handle, Public;
    }
    /// `POST /api/accounts/loans/`: a customer's outstanding loans (DFCU API).
    LOANS = "loans" {
        POST "/api/accounts/loans/" => loans::handle, Password;
    }
    /// `POST /auth/register/`: create a user and mail a verification link (Fintract Auth API).
    REGISTER = "register" {
        POST "/auth/register/" => register::handle, Code;
    }
    /// `GET /auth/verify-email/?token=`: confirm an e-mail address from its link.
    VERIFY_EMAIL = "verify-email" {
        GET "/auth/verify-email/" => verify_email::handle, Public;
    }
    /// `POST /auth/re-verify-email/`: send a new verification link.
    RE_VERIFY_EMAIL = "re-verify-email" {
        POST "/auth/re-verify-email/" => re_verify_email::handle, Public;
    }
    /// `POST /auth/login/`: check e-mail and password, send a one-time code by e-mail or SMS.
    LOGIN = "login" {
        POST "/auth/login/" => login::handle, Public;
    }
    /// `POST /auth/login/{id}/`: redeem the one-time code for a token pair.
    VERIFY_OTP = "verify-otp" {
        POST "/auth/login/{id}/" => verify_otp::handle, Public;
    }
    /// `POST /auth/admin_approval/`: a Fintract admin approves a customer.
    ADMIN_APPROVAL = "admin-approval" {
        POST "/auth/admin_approval/" => admin_approval::handle, Code;
    }
    /// `GET /auth/admin_approval/?customer_id=`: the accounts claiming a bank customer id.
    CUSTOMER_CLAIMS = "customer-claims" {
        GET "/auth/admin_approval/" => customer_claims::handle, Code;
    }
    /// `GET /auth/info/{id}/`: a user's profile, for that user or an admin.
    USER_INFO = "user-info" {
        GET "/auth/info/{id}/" => user_info::handle, Code;
    }
    /// `PATCH /auth/update/usr/{id}/`: partial profile update, for that user or an admin.
    UPDATE_USER = "update-user" {
        PATCH "/auth/update/usr/{id}/" => update_user::handle, Code;
    }
    /// `PUT /auth/user-update/`: change the caller's username and name.
    UPDATE_USERNAME = "update-username" {
        PUT "/auth/user-update/" => update_username::handle, Code;
    }
    /// `PUT /auth/account-deactivate/`: deactivate the caller's account and revoke its tokens.
    DEACTIVATE_ACCOUNT = "deactivate-account" {
        PUT "/auth/account-deactivate/" => deactivate_account::handle, Code;
    }
    /// `DELETE /auth/delete/`: delete the caller's account and everything it owns.
    DELETE_ACCOUNT = "delete-account" {
        DELETE "/auth/delete/" => delete_account::handle, Code;
    }
    /// `POST /auth/avatar/{id}/`: the user's avatar (PNG, JPEG or WebP, checked by content).
    AVATAR = "avatar" {
        POST "/auth/avatar/{id}/" => avatar::handle, Code;
    }
    /// `POST /auth/upload/`: a PDF, CSV, PNG or JPEG file (checked by content).
    UPLOAD_FILE = "upload-file" {
        POST "/auth/upload/" => upload_file::handle, Code;
    }
    /// `POST /auth/phone/`, `POST /auth/phone/confirm/`: confirm the caller's phone number with
    /// a code sent to it, before it receives sign-in codes.
    VERIFY_PHONE = "verify-phone" {
        POST "/auth/phone/" => verify_phone::send_code, Code;
        POST "/auth/phone/confirm/" => verify_phone::confirm, Code;
    }
    /// `POST /auth/logout/`, `POST /auth/logout-all/`: end this login, or every login of the
    /// account (or of a user the caller may deactivate).
    LOGOUT = "logout" {
        POST "/auth/logout/" => logout::logout, Password;
        POST "/auth/logout-all/" => logout::logout_all, Code;
    }
    /// `GET /auth/sessions/`, `DELETE /auth/sessions/{id}/`: the account's active logins, and
    /// ending one (the caller's, or of a user the caller may deactivate).
    SESSIONS = "sessions" {
        GET "/auth/sessions/" => sessions::list, Code;
        DELETE "/auth/sessions/{id}/" => sessions::end, Code;
    }
    /// `POST /auth/password-reset/`, `POST /auth/password-reset/confirm/`: a link by e-mail to
    /// set a new password, for whoever forgot theirs.
    PASSWORD_RESET = "password-reset" {
        POST "/auth/password-reset/" => password_reset::request, Public;
        GET "/auth/password-reset/confirm/" => password_reset::form, Public;
        POST "/auth/password-reset/confirm/" => password_reset::confirm, Public;
    }
    /// `PUT /auth/change-password/`: the caller's new password, given the current one; every
    /// other session ends.
    CHANGE_PASSWORD = "change-password" {
        PUT "/auth/change-password/" => change_password::handle, Code;
    }
    /// `POST /auth/authenticator/`, `POST /auth/authenticator/confirm/`,
    /// `DELETE /auth/authenticator/`: an authenticator app (TOTP) with recovery codes, turned on
    /// and off by the caller.
    AUTHENTICATOR = "authenticator" {
        POST "/auth/authenticator/" => authenticator::enrol, Code;
        POST "/auth/authenticator/confirm/" => authenticator::confirm, Code;
        DELETE "/auth/authenticator/" => authenticator::remove, Code;
        POST "/auth/authenticator/recovery-codes/" => authenticator::replace_recovery_codes, Code;
    }
    /// `GET /api/`: the operator's API performance dashboard, its sign-in and sign-out, and
    /// `/api/metrics.json`. None of its routes is counted, so watching the figures does not
    /// move them.
    DASHBOARD = "dashboard" {
        GET "/api/" => dashboard::page, Public, uncounted;
        POST "/api/login/" => dashboard::login, Public, uncounted;
        POST "/api/logout/" => dashboard::logout, Public, uncounted;
        GET "/api/metrics.json" => dashboard::metrics_json, Password, uncounted;
    }
    WELL_KNOWN = "well-known" {
        GET "/.well-known/jwks.json" => well_known::jwks, Public;
        GET "/.well-known/oauth-authorization-server" => well_known::metadata, Public;
    }
}

/// Every route of every function, flattened, in registry order: what the local gateway serves.
pub fn routes() -> Vec<shared::Route> {
    ROUTES.iter().flat_map(|f| f.iter().cloned()).collect()
}

/// The endpoints whose responses count as API traffic, in registry order: the dashboard's list.
pub fn counted() -> impl Iterator<Item = &'static shared::route::Endpoint> {
    ENDPOINTS.iter().filter(|e| e.counted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::route::match_route;

    #[test]
    fn paths_match_with_and_without_the_trailing_slash() {
        let table = routes();
        for path in [
            "/token/",
            "/token",
            "/api/accounts/loans/",
            "/api/accounts/loans",
        ] {
            assert!(
                match_route(&table, &http::Method::POST, path).is_ok(),
                "{path}"
            );
        }
        assert!(matches!(
            match_route(&table, &http::Method::GET, "/token/"),
            Err(true)
        ));
        assert!(matches!(
            match_route(&table, &http::Method::POST, "/token/x/"),
            Err(false)
        ));
        assert!(matches!(
            match_route(&table, &http::Method::POST, "//token//"),
            Err(false)
        ));
        let (page, _) = match_route(&table, &http::Method::GET, "/api").unwrap();
        assert_eq!(page.function, "dashboard");
    }

    #[test]
    fn every_method_and_path_appears_once() {
        let table = routes();
        let mut keys: Vec<_> = table
            .iter()
            .map(|r| (r.method.clone(), r.path.trim_end_matches('/')))
            .collect();
        keys.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
        keys.dedup();
        assert_eq!(keys.len(), table.len());
    }

    #[test]
    fn only_the_dashboard_is_left_uncounted() {
        for r in routes() {
            assert_eq!(r.counted, r.function != "dashboard", "{r:?}");
        }
    }

    #[test]
    fn every_function_has_its_routes_and_its_routes_only() {
        assert_eq!(FUNCTIONS.len(), ROUTES.len());
        for (name, routes) in FUNCTIONS.iter().zip(ROUTES) {
            assert!(!routes.is_empty(), "{name}");
            assert!(routes.iter().all(|r| r.function == *name), "{name}");
        }
        let endpoints: Vec<_> = routes().into_iter().map(|r| r.endpoint).collect();
        assert_eq!(endpoints, ENDPOINTS);
    }

    #[test]
    fn the_dashboard_lists_exactly_the_counted_routes_in_order() {
        let counted: Vec<_> = routes()
            .iter()
            .filter(|r| r.counted)
            .map(|r| {
                (
                    r.function.to_string(),
                    r.method.to_string(),
                    r.path.to_string(),
                )
            })
            .collect();
        let body = crate::dashboard::metrics_body(&shared::metrics::Report::empty(0), 0);
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let listed: Vec<_> = body["endpoints"]
            .as_array()
            .expect("an endpoint list")
            .iter()
            .map(|e| (text(&e["function"]), text(&e["method"]), text(&e["path"])))
            .collect();
        assert_eq!(listed, counted, "metrics.json's endpoints vs the registry");
    }
}
