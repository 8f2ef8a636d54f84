//! Avatars and file uploads: content checked by bytes, URLs that download the same bytes as were
//! stored, the old avatar removed, everything gone with the account. (What is stored of each
//! type, re-encoded images and neutralised CSV, is tried in `hygiene_files.rs`.)

use acceptance::{on_both_backends, Backend, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use serde_json::json;
use shared::upload::{accept_blocking, samples, Kind};

/// Upload limits small enough to test cheaply.
const LIMIT: usize = 64 * 1024;

async fn small_limits(backend: Backend) -> TestApp {
    TestApp::spawn_seeded_with(backend, |c| {
        c.avatar_max_bytes = LIMIT;
        c.upload_max_bytes = LIMIT;
    })
    .await
}

async fn signed_in(app: &TestApp) -> (TestUser, String) {
    let user = app.new_user("CUSTOMER").await;
    let token = app.access_of(&user).await;
    (user, token)
}

/// The bytes the API stores for `bytes` (images are decoded and encoded again, deterministically).
fn stored_form(bytes: &[u8]) -> Vec<u8> {
    let all = [Kind::Png, Kind::Jpeg, Kind::Webp, Kind::Pdf, Kind::Csv];
    accept_blocking(bytes.to_vec(), &all)
        .expect("a sample the API accepts")
        .bytes
}

async fn download(app: &TestApp, url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app.client.get(url).send().await.expect("the URL answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

async fn each_avatar_type_is_stored_and_its_url_downloads_the_same_bytes(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let path = format!("/auth/avatar/{}/", user.id);
    for (bytes, mime) in [
        (samples::png(64, 64), "image/png"),
        (samples::jpeg(64, 48), "image/jpeg"),
        (samples::webp(32, 32), "image/webp"),
    ] {
        // The declared type and name are lies on purpose: only the bytes decide.
        let a = app
            .post_file(
                &path,
                bytes.clone(),
                "photo.gif",
                "application/octet-stream",
                &token,
            )
            .await;
        assert_eq!(a.status, 201, "{mime}: {:?}", a.body);
        let u = &a.body["user"];
        assert_eq!(u["id"], user.id);
        for secret in ["password", "otp", "password_hash", "token_version"] {
            assert!(u.get(secret).is_none(), "{secret} in {u}");
        }
        let url = u["avatar"].as_str().unwrap();
        let (status, headers, got) = download(&app, url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(got, stored_form(&bytes), "{mime}");
        assert_eq!(headers["content-type"], mime);
        let info = app
            .call(
                "GET",
                &format!("/auth/info/{}/", user.id),
                None,
                Some(&token),
            )
            .await;
        assert!(
            info.body["avatar"].as_str().unwrap().contains("/avatars/"),
            "{:?}",
            info.body
        );
    }
}

async fn refused_avatars_say_why(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let path = format!("/auth/avatar/{}/", user.id);
    let png = samples::png(16, 16);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "an executable renamed .png",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
            415,
        ),
        (
            "HTML renamed .png",
            b"<html><script>alert(1)</script></html>".to_vec(),
            415,
        ),
        ("a PDF", samples::pdf(), 415),
        ("an empty file", vec![], 400),
        ("a truncated PNG", png[..png.len() - 10].to_vec(), 400),
        (
            "a decompression bomb",
            samples::png_declaring(60_000, 60_000),
            400,
        ),
        (
            "an oversize file",
            [samples::png(8, 8), vec![0; LIMIT]].concat(),
            413,
        ),
    ];
    for (what, bytes, status) in cases {
        let a = app
            .post_file(&path, bytes, "avatar.png", "image/png", &token)
            .await;
        assert_eq!(a.status, status, "{what}: {:?}", a.body);
        assert!(a.error().len() > 5, "{what}: {:?}", a.body);
    }
    assert!(app
        .objects(&format!("avatars/{}/", user.id))
        .await
        .is_empty());
    let no_file = app
        .send(
            app.client
                .post(app.url(&path))
                .bearer_auth(&token)
                .multipart(Form::new().text("note", "no file here")),
        )
        .await;
    assert_eq!(no_file.status, 400);
    assert_eq!(no_file.body["fields"]["file"], "This field is required.");
    let json_body = app
        .post_json(&path, &json!({"file": "x"}), Some(&token))
        .await;
    assert_eq!(json_body.status, 415);
    let broken = app
        .post_raw(
            &path,
            "multipart/form-data; boundary=XYZ",
            "--XYZ\r\nnot a part",
            Some(&token),
        )
        .await;
    assert_eq!(broken.status, 400, "{:?}", broken.body);
}

async fn only_the_user_sets_their_avatar(app: TestApp) {
    let (_, token) = signed_in(&app).await;
    let other = app.new_user("CUSTOMER").await;
    let admin = app.code_token(&acceptance::demo::ADMIN).await;
    for (caller, why) in [(&token, "another user"), (&admin, "not even an admin")] {
        let path = format!("/auth/avatar/{}/", other.id);
        let a = app
            .post_file(&path, samples::png(8, 8), "a.png", "image/png", caller)
            .await;
        assert_eq!(a.status, 404, "{why} sets someone's photo");
    }
    assert!(app
        .objects(&format!("avatars/{}/", other.id))
        .await
        .is_empty());
    let part = Part::bytes(samples::png(8, 8)).file_name("a.png");
    let r = app
        .client
        .post(app.url(&format!("/auth/avatar/{}/", other.id)))
        .multipart(Form::new().part("file", part));
    assert_eq!(app.send(r).await.status, 401);
}

async fn a_replaced_avatar_is_deleted_and_concurrent_replacements_leave_one(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let path = format!("/auth/avatar/{}/", user.id);
    let prefix = format!("avatars/{}/", user.id);
    assert_eq!(
        app.post_file(&path, samples::png(8, 8), "a.png", "image/png", &token)
            .await
            .status,
        201
    );
    let first = app
        .ctx
        .store
        .user(user.id)
        .await
        .unwrap()
        .unwrap()
        .avatar_key
        .unwrap();
    assert_eq!(
        app.post_file(&path, samples::jpeg(8, 8), "b.jpg", "image/jpeg", &token)
            .await
            .status,
        201
    );
    let second = app
        .ctx
        .store
        .user(user.id)
        .await
        .unwrap()
        .unwrap()
        .avatar_key
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(app.objects(&prefix).await, vec![second.clone()]);

    let uploads =
        (0..5).map(|i| app.post_file(&path, samples::png(8 + i, 8), "c.png", "image/png", &token));
    let answers = futures::future::join_all(uploads).await;
    assert!(
        answers.iter().all(|a| a.status == 201),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let current = app
        .ctx
        .store
        .user(user.id)
        .await
        .unwrap()
        .unwrap()
        .avatar_key
        .unwrap();
    assert_eq!(
        app.objects(&prefix).await,
        vec![current],
        "exactly one avatar object"
    );
}

async fn each_upload_type_is_stored_as_an_attachment_of_its_real_type(app: TestApp) {
    let (_, token) = signed_in(&app).await;
    let csv = "account,amount\n5000145080,500000\n".as_bytes().to_vec();
    for (bytes, name, mime) in [
        (samples::pdf(), "passport.pdf", "application/pdf"),
        (csv, "statement.csv", "text/csv; charset=utf-8"),
        (samples::png(10, 10), "scan.png", "image/png"),
        (samples::jpeg(10, 10), "scan.jpeg", "image/jpeg"),
    ] {
        let a = app
            .post_file(
                "/auth/upload/",
                bytes.clone(),
                name,
                "application/octet-stream",
                &token,
            )
            .await;
        assert_eq!(a.status, 201, "{name}: {:?}", a.body);
        assert_eq!(a.body.as_object().unwrap().len(), 1);
        let url = a.body["url"].as_str().unwrap();
        let (status, headers, got) = download(&app, url).await;
        assert_eq!((status, got), (200, stored_form(&bytes)), "{name}");
        assert_eq!(headers["content-type"], mime, "{name}");
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with("attachment"), "{disposition}");
    }
}

async fn refused_uploads_say_why(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "HTML renamed .csv",
            b"<!DOCTYPE html><html><body><script>alert(1)</script>".to_vec(),
            415,
        ),
        (
            "an executable renamed .pdf",
            b"MZ\x90\0\x03\0\0\0\x04\0".to_vec(),
            415,
        ),
        ("a WebP image", samples::webp(8, 8), 415),
        ("binary garbage as .csv", vec![0, 159, 146, 150, 0, 1], 415),
        ("an empty file", vec![], 400),
        ("a truncated PDF", samples::pdf()[..40].to_vec(), 400),
        (
            "an oversize CSV",
            "a,b\n".repeat(LIMIT / 4 + 10).into_bytes(),
            413,
        ),
    ];
    for (what, bytes, status) in cases {
        let a = app
            .post_file("/auth/upload/", bytes, "file.csv", "text/csv", &token)
            .await;
        assert_eq!(a.status, status, "{what}: {:?}", a.body);
    }
    assert!(app
        .objects(&format!("uploads/{}/", user.id))
        .await
        .is_empty());
    let a = app
        .post_json("/auth/upload/", &json!({"url": "x"}), Some(&token))
        .await;
    assert_eq!(a.status, 415);
    let part = Part::bytes(samples::pdf()).file_name("a.pdf");
    let r = app
        .client
        .post(app.url("/auth/upload/"))
        .multipart(Form::new().part("file", part));
    assert_eq!(app.send(r).await.status, 401);
}

async fn deleting_the_account_deletes_its_avatar_and_uploads(app: TestApp) {
    let (user, token) = signed_in(&app).await;
    let other = app.new_user("CUSTOMER").await;
    let other_token = app.access_of(&other).await;
    assert_eq!(
        app.post_file(
            &format!("/auth/avatar/{}/", user.id),
            samples::png(8, 8),
            "a.png",
            "image/png",
            &token
        )
        .await
        .status,
        201
    );
    for _ in 0..2 {
        assert_eq!(app.upload_pdf("a.pdf", &token).await.status, 201);
    }
    assert_eq!(app.upload_pdf("b.pdf", &other_token).await.status, 201);
    assert_eq!(app.objects(&format!("uploads/{}/", user.id)).await.len(), 2);
    assert_eq!(
        app.call("DELETE", "/auth/delete/", None, Some(&token))
            .await
            .status,
        200
    );
    for prefix in [
        format!("avatars/{}/", user.id),
        format!("uploads/{}/", user.id),
    ] {
        assert!(app.objects(&prefix).await.is_empty(), "{prefix}");
    }
    assert_eq!(
        app.objects(&format!("uploads/{}/", other.id)).await.len(),
        1,
        "others keep theirs"
    );
}

on_both_backends!(
    with small_limits;
    each_avatar_type_is_stored_and_its_url_downloads_the_same_bytes,
    refused_avatars_say_why,
    only_the_user_sets_their_avatar,
    a_replaced_avatar_is_deleted_and_concurrent_replacements_leave_one,
    each_upload_type_is_stored_as_an_attachment_of_its_real_type,
    refused_uploads_say_why,
    deleting_the_account_deletes_its_avatar_and_uploads,
);

/// The local stand-in for presigned URLs expires like S3's (moto does not enforce expiry).
mod links {
    mod embedded {
        use super::super::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn download_links_expire_and_cannot_be_altered() {
            let app = TestApp::spawn_seeded_with(Backend::Embedded, |c| {
                c.blob_url_ttl = std::time::Duration::from_secs(1)
            })
            .await;
            let (_, token) = signed_in(&app).await;
            let a = app.upload_pdf("a.pdf", &token).await;
            let url = a.body["url"].as_str().unwrap().to_string();
            assert_eq!(download(&app, &url).await.0, 200);
            let tampered = url.replace("sig=", "sig=0");
            assert_eq!(download(&app, &tampered).await.0, 403);
            let other_key = url.replacen("/uploads/", "/avatars/", 1);
            assert_eq!(download(&app, &other_key).await.0, 403);
            tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
            assert_eq!(download(&app, &url).await.0, 403);
        }
    }
}
