//! Property tests of every parser that reads client input: whatever the bytes, the answer is a
//! value or a 4xx error — never a panic, never a 5xx.

use std::collections::HashMap;

use lambda_http::{Body, Request, RequestExt};
use proptest::prelude::*;
use shared::fields::Fields;
use shared::http::{bearer_token, body_object, path_id};
use shared::jwt::{TokenType, Verifier};
use shared::upload::{accept_blocking, file_part, Kind};

const CONTENT_TYPES: &[&str] = &[
    "",
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/merge-patch+json",
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "application/xml",
];

fn request(content_type: &str, body: Vec<u8>) -> Request {
    let mut b = http::Request::builder().method("POST").uri("/x");
    if !content_type.is_empty() {
        b = b.header("content-type", content_type);
    }
    b.body(Body::from(body)).unwrap()
}

/// Pieces of PDF syntax, for PDFs that get past the first checks into the deep one.
const PDF_PARTS: &[&str] = &[
    "1 0 obj",
    "2 0 obj",
    "endobj",
    "<<",
    ">>",
    "[",
    "]",
    "(",
    ")",
    "\\",
    "<41>",
    "%c\n",
    "/Length",
    "/Length 3",
    "/Length 2 0 R",
    "2 0 obj 4 endobj",
    "stream\n",
    "\nendstream",
    "/Type /ObjStm",
    "/First 0",
    "/Filter /FlateDecode",
    "/Filter [/Fl]",
    "/DecodeParms",
    "/JS",
    "/J#53",
    "/#",
    "/#4",
    "/OpenAction",
    "/Encrypt",
    "\u{0}\u{ff}",
    "abcd",
    "0",
];

fn client_error(status: u16) -> bool {
    (400..500).contains(&status)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_body_is_an_object_or_a_4xx(ct in proptest::sample::select(CONTENT_TYPES), body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = body_object(&request(ct, body)) {
            prop_assert!(client_error(e.status.as_u16()));
        }
    }

    #[test]
    fn any_json_value_through_fields_is_a_value_or_a_400(json in "\\PC{0,200}") {
        if let Ok(map) = body_object(&request("application/json", json.into_bytes())) {
            let mut f = Fields::new(map);
            let _ = f.required_str("username", 150);
            let _ = f.required_secret("password", 512);
            let _ = f.email("email", false);
            let _ = f.new_password("password", "password2");
            if let Err(e) = f.finish() {
                prop_assert_eq!(e.status.as_u16(), 400);
            }
        }
    }

    #[test]
    fn any_token_string_is_refused_without_panicking(token in "\\PC{0,300}", dots in "[A-Za-z0-9_=.-]{0,300}") {
        let keys = Verifier::of(&shared::config::derived_signing_keys(b"0123456789abcdef0123456789abcdef"));
        prop_assert!(keys.verify(&token, TokenType::Access, "https://api.example", 0).is_err());
        prop_assert!(keys.verify(&dots, TokenType::Refresh, "https://api.example", 0).is_err());
    }

    #[test]
    fn any_path_id_is_a_number_or_a_400(raw in "\\PC{0,40}") {
        let mut params = HashMap::new();
        params.insert("id".to_string(), raw.clone());
        match path_id(&Request::default().with_path_parameters(params), "id") {
            Ok(n) => prop_assert_eq!(n.to_string(), raw),
            Err(e) => prop_assert_eq!(e.status.as_u16(), 400),
        }
    }

    #[test]
    fn any_authorization_header_gives_a_token_or_none(value in "[ -~]{0,100}") {
        let r = http::Request::builder().header("authorization", value.as_str()).body(Body::Empty).unwrap();
        let _ = bearer_token(&r);
    }

    #[test]
    fn any_bytes_are_a_known_kind_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048), prefix in proptest::sample::select(vec![
        b"\x89PNG\r\n\x1a\n".to_vec(), vec![0xFF, 0xD8, 0xFF], b"RIFF\0\0\0\0WEBPVP8X".to_vec(), b"%PDF-".to_vec(), vec![],
    ])) {
        let mut file = prefix;
        file.extend(bytes);
        let _ = accept_blocking(file, &[Kind::Png, Kind::Jpeg, Kind::Webp, Kind::Pdf, Kind::Csv]);
    }

    #[test]
    fn any_pdf_made_of_pdf_syntax_is_checked_without_panicking(parts in proptest::collection::vec(proptest::sample::select(PDF_PARTS), 0..60)) {
        let mut file = b"%PDF-1.7\n".to_vec();
        for part in parts {
            file.extend(part.as_bytes());
            file.push(b' ');
        }
        file.extend(b"\n%%EOF\n");
        let _ = accept_blocking(file, &[Kind::Pdf]);
    }

    #[test]
    fn any_text_is_stored_or_refused_as_csv_without_panicking(text in "[a-z0-9,;\"'=+@<>/!\\-\t\r\n .]{0,300}") {
        let _ = accept_blocking(text.into_bytes(), &[Kind::Csv]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_multipart_body_is_a_file_or_a_4xx(body in proptest::collection::vec(any::<u8>(), 0..1024), header in proptest::sample::select(CONTENT_TYPES)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut framed = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n".to_vec();
        framed.extend(&body);
        for candidate in [body.clone(), framed] {
            if let Err(e) = rt.block_on(file_part(&request(header, candidate), 256)) {
                prop_assert!(client_error(e.status.as_u16()), "{}", e.status);
            }
        }
    }
}
