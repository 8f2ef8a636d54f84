//! Files held to a bank's standard (issue 17): images are stored as what decoded, re-encoded
//! upright without metadata or trailing bytes; PDFs that can act (scripts, actions, launches,
//! embedded files, encryption) are refused, however their names are spelled or packed; CSV
//! formulas are neutralised and markup refused; avatar links carry their type and disposition.

use acceptance::{on_both_backends, Backend, TestApp, TestUser};
use shared::upload::samples::{self, deflate, object_stream, pdf_of, stream};

async fn signed_in(app: &TestApp) -> (TestUser, String) {
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    (user, token)
}

async fn download(app: &TestApp, url: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let r = app.client.get(url).send().await.expect("the URL answers");
    assert_eq!(r.status().as_u16(), 200, "{url}");
    let headers = r.headers().clone();
    (headers, r.bytes().await.unwrap().to_vec())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Uploads `bytes` to the avatar (`avatar` true) or upload endpoint; the download URL and answer.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    token: &str,
    avatar: bool,
    bytes: Vec<u8>,
) -> acceptance::Answer {
    let path = if avatar {
        format!("/auth/avatar/{}/", user.id)
    } else {
        "/auth/upload/".to_string()
    };
    app.post_file(&path, bytes, "file.png", "image/png", token)
        .await
}

fn url_of(answer: &acceptance::Answer, avatar: bool) -> String {
    let url = if avatar {
        &answer.body["user"]["avatar"]
    } else {
        &answer.body["url"]
    };
    url.as_str().expect("a download URL").to_string()
}

async fn no_objects(app: &TestApp, user: &TestUser) {
    for prefix in [
        format!("avatars/{}/", user.id),
        format!("uploads/{}/", user.id),
    ] {
        assert!(app.objects(&prefix).await.is_empty(), "{prefix}");
    }
}

async fn bytes_after_the_image_are_not_stored(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let payload = b"<html><script>alert(document.cookie)</script></html>";
    let polyglot = [samples::png(32, 24), payload.to_vec()].concat();
    for avatar in [true, false] {
        let a = upload(&app, &user, &token, avatar, polyglot.clone()).await;
        assert_eq!(a.status, 201, "avatar {avatar}: {:?}", a.body);
        let (headers, stored) = download(&app, &url_of(&a, avatar)).await;
        assert_eq!(headers["content-type"], "image/png");
        assert!(
            !contains(&stored, b"<script"),
            "avatar {avatar}: payload served back"
        );
        assert!(stored.ends_with(b"IEND\xaeB`\x82"), "nothing after IEND");
        let img = image::load_from_memory_with_format(&stored, image::ImageFormat::Png)
            .expect("the stored bytes decode as PNG");
        assert_eq!((img.width(), img.height()), (32, 24));
    }
}

async fn exif_orientation_is_applied_and_metadata_dropped(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    // 40 × 20 as stored, dark top half; orientation 6 means "turn 90° clockwise to show".
    let photo = samples::jpeg_with_exif(40, 20, 6);
    for avatar in [true, false] {
        let a = upload(&app, &user, &token, avatar, photo.clone()).await;
        assert_eq!(a.status, 201, "avatar {avatar}: {:?}", a.body);
        let (headers, stored) = download(&app, &url_of(&a, avatar)).await;
        assert_eq!(headers["content-type"], "image/jpeg");
        assert!(!contains(&stored, b"Exif"), "avatar {avatar}: Exif kept");
        assert!(
            !contains(&stored, b"EXIF-SECRET-PLACE"),
            "avatar {avatar}: metadata kept"
        );
        let img = image::load_from_memory_with_format(&stored, image::ImageFormat::Jpeg)
            .expect("the stored bytes decode as JPEG")
            .to_luma8();
        assert_eq!(
            img.dimensions(),
            (20, 40),
            "avatar {avatar}: not turned upright"
        );
        // The dark top half is now the right half.
        assert!(img.get_pixel(15, 20)[0] < 100, "right half dark");
        assert!(img.get_pixel(4, 20)[0] > 150, "left half light");
    }
}

async fn images_that_do_not_decode_are_refused(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a PNG whose pixel data is an HTML page",
            samples::png_chunks(16, 16, b"<html><script>alert(1)</script></html>"),
        ),
        (
            "a PNG with too few rows of pixels",
            samples::png_declaring(64, 64),
        ),
        ("a JPEG with no scan", samples::jpeg_declaring(64, 64)),
    ];
    for avatar in [true, false] {
        for (what, bytes) in &cases {
            let a = upload(&app, &user, &token, avatar, bytes.clone()).await;
            assert_eq!(a.status, 400, "{what} (avatar {avatar}): {:?}", a.body);
            assert!(
                a.error().contains("does not decode"),
                "{what}: {:?}",
                a.body
            );
        }
    }
    no_objects(&app, &user).await;
}

/// A catalog (object 1) with `extra` and one page, plus `more` objects from number 4 on.
fn pdf_with(catalog_extra: &str, more: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut objects = vec![
        format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>").into_bytes(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>".to_vec(),
    ];
    objects.extend(more.iter().cloned());
    pdf_of(&objects, trailer_extra)
}

async fn pdfs_that_can_act_are_refused(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let js = b"<< /S /JavaScript /JS (app.alert(1)) >>".to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a JavaScript action opening the file",
            pdf_with("/OpenAction 4 0 R", std::slice::from_ref(&js), ""),
        ),
        (
            "document JavaScript",
            pdf_with(
                "/Names << /JavaScript 4 0 R >>",
                &[b"<< /Names [(a) 5 0 R] >>".to_vec(), js.clone()],
                "",
            ),
        ),
        (
            "an additional action",
            pdf_with(
                "/AA << /WC 4 0 R >>",
                &[b"<< /S /URI /URI (https://evil.example) >>".to_vec()],
                "",
            ),
        ),
        (
            "an open action to a web address",
            pdf_with(
                "/OpenAction << /S /URI /URI (https://evil.example) >>",
                &[],
                "",
            ),
        ),
        (
            "a launch action",
            pdf_with("/OpenAction << /S /Launch /F (cmd.exe) >>", &[], ""),
        ),
        (
            "an embedded file",
            pdf_with(
                "/Names << /EmbeddedFiles << /Names [(a.exe) 4 0 R] >> >>",
                &[
                    b"<< /Type /Filespec /F (a.exe) /EF << /F 5 0 R >> >>".to_vec(),
                    stream("/Type /EmbeddedFile", b"MZ"),
                ],
                "",
            ),
        ),
        (
            "encryption",
            pdf_with(
                "",
                &[b"<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>".to_vec()],
                "/Encrypt 4 0 R /ID [<01> <01>]",
            ),
        ),
        (
            "a hex-escaped JavaScript name",
            pdf_with(
                "/Names << /J#61vaScript 4 0 R >>",
                &[
                    b"<< /Names [(a) 5 0 R] >>".to_vec(),
                    b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>".to_vec(),
                ],
                "",
            ),
        ),
        (
            "a hex-escaped open action",
            pdf_with(
                "/#4FpenAction 4 0 R",
                &[b"<< /S /URI /URI (https://evil.example) >>".to_vec()],
                "",
            ),
        ),
        (
            "an open action and a script inside a compressed object stream",
            pdf_with(
                "",
                &[object_stream(&[
                    (5, "<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"),
                    (6, "<< /S /JavaScript /JS (app.alert(1)) >>"),
                ])],
                "",
            ),
        ),
        (
            "an object stream that does not inflate",
            pdf_with(
                "",
                &[stream(
                    "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
                    b"not zlib data at all",
                )],
                "",
            ),
        ),
    ];
    for (what, bytes) in cases {
        let a = app
            .post_file(
                "/auth/upload/",
                bytes,
                "statement.pdf",
                "application/pdf",
                &token,
            )
            .await;
        assert_eq!(a.status, 400, "{what}: {:?}", a.body);
        assert!(a.error().len() > 10, "{what}: {:?}", a.body);
    }
    no_objects(&app, &user).await;

    // Plain PDFs pass: compressed content, a harmless object stream, a destination to open at.
    let plain = pdf_with(
        "/OpenAction [3 0 R /Fit]",
        &[
            stream("/Filter /FlateDecode", &deflate(b"BT (Balance) Tj ET")),
            object_stream(&[(6, "<< /Producer (Bank) /Title (Statement #4 /JSON) >>")]),
        ],
        "",
    );
    for bytes in [samples::pdf(), plain] {
        let a = app
            .post_file(
                "/auth/upload/",
                bytes.clone(),
                "statement.pdf",
                "application/pdf",
                &token,
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        let (headers, stored) = download(&app, &url_of(&a, false)).await;
        assert_eq!(headers["content-type"], "application/pdf");
        assert_eq!(stored, bytes, "a PDF is stored as it came");
    }
}

async fn csv_formulas_are_neutralised(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let sent = "name,amount,phone,note\n\
                alice,-5000,+256700000000,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n\
                bob,12.50,-1+2,@SUM(A1:A2)\n\
                carol,+3,\"=2+5+cmd|' /C calc'!A0\",\"\tx\"\n\
                dave,-,\"+\",plain\n";
    let kept = "name,amount,phone,note\n\
                alice,-5000,+256700000000,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n\
                bob,12.50,'-1+2,'@SUM(A1:A2)\n\
                carol,+3,'=2+5+cmd|' /C calc'!A0,'\tx\n\
                dave,'-,'+,plain\n";
    let a = app
        .post_file(
            "/auth/upload/",
            sent.as_bytes().to_vec(),
            "s.csv",
            "text/csv",
            &token,
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let (headers, stored) = download(&app, &url_of(&a, false)).await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(String::from_utf8(stored).unwrap(), kept);
    assert_eq!(app.objects(&format!("uploads/{}/", user.id)).await.len(), 1);

    // A CSV with nothing to neutralise is stored byte for byte (its line ends included).
    let clean = "account,amount\r\n5000145080,-500000\r\n\"Kampala, UG\",a<b\r\n";
    let a = app
        .post_file(
            "/auth/upload/",
            clean.as_bytes().to_vec(),
            "s.csv",
            "text/csv",
            &token,
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(download(&app, &url_of(&a, false)).await.1, clean.as_bytes());
}

async fn markup_in_csv_is_refused(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    for markup in [
        "name,comment\nbob,<img src=x onerror=alert(1)>\n",
        "name,comment\nbob,<a href=javascript:alert(1)>x</a>\n",
        "name,comment\nbob,<svg/onload=alert(1)>\n",
        "name,comment\nbob,<!-- x -->\n",
        "name,comment\nbob,</title><b>x\n",
        "name,comment\nbob,<IMG\nSRC=x onerror=alert(1)>\n",
    ] {
        let a = app
            .post_file(
                "/auth/upload/",
                markup.as_bytes().to_vec(),
                "s.csv",
                "text/csv",
                &token,
            )
            .await;
        assert_eq!(a.status, 415, "{markup:?}: {:?}", a.body);
    }
    no_objects(&app, &user).await;
    for text in ["a,b\nx<y,1 < 2\n", "a,b\n1<=2,3 -> 4\n"] {
        let a = app
            .post_file(
                "/auth/upload/",
                text.as_bytes().to_vec(),
                "s.csv",
                "text/csv",
                &token,
            )
            .await;
        assert_eq!(a.status, 201, "{text:?}: {:?}", a.body);
    }
}

async fn avatar_links_carry_their_type_and_disposition(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    for (bytes, mime, name) in [
        (samples::png(16, 16), "image/png", "avatar.png"),
        (samples::jpeg(16, 16), "image/jpeg", "avatar.jpg"),
        (samples::webp(16, 16), "image/webp", "avatar.webp"),
    ] {
        let a = upload(&app, &user, &token, true, bytes).await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        let url = url_of(&a, true);
        if app.backend != Backend::Embedded {
            // The presigned URL itself says how to serve the object.
            assert!(
                url.contains(&format!(
                    "response-content-type={}",
                    mime.replace('/', "%2F")
                )),
                "{url}"
            );
            assert!(url.contains("response-content-disposition=inline"), "{url}");
        }
        let (headers, _) = download(&app, &url).await;
        assert_eq!(headers["content-type"], mime);
        assert_eq!(
            headers["content-disposition"],
            format!("inline; filename=\"{name}\"").as_str()
        );
        if app.backend == Backend::Embedded {
            assert_eq!(headers["x-content-type-options"], "nosniff");
        }
    }
    let a = app.upload_pdf("a.pdf", &token).await;
    let url = url_of(&a, false);
    if app.backend != Backend::Embedded {
        assert!(
            url.contains("response-content-disposition=attachment"),
            "{url}"
        );
    }
    let (headers, _) = download(&app, &url).await;
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"a.pdf\""
    );
}

on_both_backends!(
    bytes_after_the_image_are_not_stored,
    exif_orientation_is_applied_and_metadata_dropped,
    images_that_do_not_decode_are_refused,
    pdfs_that_can_act_are_refused,
    csv_formulas_are_neutralised,
    markup_in_csv_is_refused,
    avatar_links_carry_their_type_and_disposition,
);
