//! The one route table: the gateway serves it and `template.yaml` must declare exactly it.

use std::collections::HashMap;

use shared::Route;

/// Every function's route, in the order the documents list them.
pub fn routes() -> Vec<Route> {
    vec![
        token::ROUTE,
        token_refresh::ROUTE,
        loans::ROUTE,
        register::ROUTE,
        verify_email::ROUTE,
        re_verify_email::ROUTE,
        login::ROUTE,
        verify_otp::ROUTE,
        admin_approval::ROUTE,
        user_info::ROUTE,
        update_user::ROUTE,
        update_username::ROUTE,
        deactivate_account::ROUTE,
        delete_account::ROUTE,
        avatar::ROUTE,
        upload_file::ROUTE,
    ]
}

/// The route for `method` and `path` (with or without its trailing slash) and its path
/// parameters; `Err(true)` if the path exists under another method, `Err(false)` if not at all.
pub fn match_route<'r>(
    table: &'r [Route],
    method: &http::Method,
    path: &str,
) -> Result<(&'r Route, HashMap<String, String>), bool> {
    let mut path_known = false;
    for route in table {
        if let Some(params) = match_path(route.path, path) {
            if route.method == *method {
                return Ok((route, params));
            }
            path_known = true;
        }
    }
    Err(path_known)
}

fn match_path(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let (t, p) = (segments(template)?, segments(path)?);
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (t, p) in t.iter().zip(&p) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => {
                params.insert(name.to_string(), p.to_string());
            }
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

/// `/a/b/` and `/a/b` give `[a, b]`; an empty segment (`//`) matches nothing.
fn segments(path: &str) -> Option<Vec<&str>> {
    let inner = path.strip_prefix('/')?;
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let parts: Vec<&str> = inner.split('/').collect();
    parts.iter().all(|s| !s.is_empty()).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn parameters_are_taken_from_the_path() {
        assert_eq!(
            match_path("/auth/login/{id}/", "/auth/login/42/").unwrap()["id"],
            "42"
        );
        assert!(match_path("/auth/login/{id}/", "/auth/login//").is_none());
        assert!(match_path("/auth/login/{id}/", "/auth/login/1/2/").is_none());
    }

    #[test]
    fn every_function_appears_once() {
        let table = routes();
        let mut names: Vec<_> = table.iter().map(|r| r.function).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), table.len());
    }
}
