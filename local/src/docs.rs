//! The API's contract and its "testing interface": `GET /openapi.yaml` and the interactive page at
//! `/docs` (Swagger UI, vendored from the npm registry into `local/docs/swagger-ui/`, so the page
//! needs nothing from the internet).

use bytes::Bytes;
use http_body_util::Full;

/// The OpenAPI 3.1 document of every route (the tests hold it to the route table).
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

const INDEX_HTML: &str = include_str!("../docs/index.html");

/// The page's own files and the vendored Swagger UI: (path, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/docs/docs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../docs/docs.js"),
    ),
    (
        "/docs/docs.css",
        "text/css; charset=utf-8",
        include_bytes!("../docs/docs.css"),
    ),
    (
        "/docs/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../docs/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "/docs/swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../docs/swagger-ui/swagger-ui.css"),
    ),
];

/// Scripts and styles from this origin only; Swagger UI sets inline styles on its SVG icons.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The answer to `GET path` if it is the contract or a file of the docs page.
pub fn serve(method: &http::Method, path: &str) -> Option<hyper::Response<Full<Bytes>>> {
    if method != http::Method::GET {
        return None;
    }
    let (content_type, body): (&str, &'static [u8]) = match path {
        "/openapi.yaml" => ("application/yaml; charset=utf-8", OPENAPI_YAML.as_bytes()),
        "/docs" | "/docs/" => ("text/html; charset=utf-8", INDEX_HTML.as_bytes()),
        _ => ASSETS
            .iter()
            .find(|(p, _, _)| *p == path)
            .map(|(_, t, b)| (*t, *b))?,
    };
    let mut r = hyper::Response::new(Full::new(Bytes::from_static(body)));
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_str(content_type).ok()?,
    );
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_vendored_files_are_the_ones_recorded_from_the_registry() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/swagger-ui");
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        let mut checked = 0;
        for line in sums.lines().filter(|l| !l.starts_with('#')) {
            let (sum, name) = line.split_once("  ").unwrap();
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let actual = shared::crypto::hex(&Sha256::digest(&bytes));
            assert_eq!(
                actual, sum,
                "{name} differs from what vendor-swagger-ui.sh recorded"
            );
            checked += 1;
        }
        assert!(checked >= 3, "SHA256SUMS lists the vendored files");
    }

    #[test]
    fn the_page_its_assets_and_the_contract_are_served_and_nothing_else() {
        let get = http::Method::GET;
        for path in [
            "/docs",
            "/docs/",
            "/openapi.yaml",
            "/docs/swagger-ui-bundle.js",
        ] {
            let r = serve(&get, path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(r.status(), 200);
            assert!(r
                .headers()
                .contains_key(http::header::CONTENT_SECURITY_POLICY));
        }
        assert!(serve(&get, "/docs/../Cargo.toml").is_none());
        assert!(serve(&get, "/docs/swagger-ui-bundle.js.map").is_none());
        assert!(serve(&http::Method::POST, "/docs").is_none());
        // The page loads only what is served here.
        for src in INDEX_HTML
            .split(['"', '\''])
            .filter(|s| s.starts_with("/docs/"))
        {
            assert!(serve(&get, src).is_some(), "{src}");
        }
    }
}
