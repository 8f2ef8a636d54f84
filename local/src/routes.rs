//! The one route table: the gateway serves it and `template.yaml` must declare exactly it.

use shared::Route;

pub use shared::route::match_route;

/// Every function's routes, in the order the documents list them.
pub fn routes() -> Vec<Route> {
    let mut table = vec![
        token::ROUTE,
        token_refresh::ROUTE,
        loans::ROUTE,
        register::ROUTE,
        verify_email::ROUTE,
        re_verify_email::ROUTE,
        login::ROUTE,
        verify_otp::ROUTE,
        admin_approval::ROUTE,
        customer_claims::ROUTE,
        user_info::ROUTE,
        update_user::ROUTE,
        update_username::ROUTE,
        deactivate_account::ROUTE,
        delete_account::ROUTE,
        avatar::ROUTE,
        upload_file::ROUTE,
    ];
    table.extend_from_slice(dashboard::ROUTES);
    table
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
    fn the_dashboard_lists_exactly_the_counted_routes_in_order() {
        let counted: Vec<_> = routes()
            .iter()
            .filter(|r| r.counted)
            .map(|r| (r.function, r.method.to_string(), r.path))
            .collect();
        let listed: Vec<_> = dashboard::ENDPOINTS
            .iter()
            .map(|e| (e.function, e.method.to_string(), e.path))
            .collect();
        assert_eq!(listed, counted, "dashboard::ENDPOINTS vs the route table");
    }
}
