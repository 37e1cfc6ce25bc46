//! E-file-1 to E-file-3 on the local folder and on a real S3-compatible
//! server: streaming upload with its cap, share secrets, ranges, thumbnails.

use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;

use confab_server::config::S3Settings;

use crate::helpers::{assert_error, s3_bucket, spawn_app, spawn_app_with, Storage, TestApp};

async fn upload(
    app: &TestApp,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
    restricted: bool,
) -> (StatusCode, Value) {
    let part = Part::bytes(bytes).file_name(name.to_owned()).mime_str(content_type).unwrap();
    let mut request =
        app.http.post(app.url("/chatfiles")).bearer_auth(&app.app_token).multipart(Form::new().part("file", part));
    if restricted {
        request = request.header("restrict-access", "true");
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn download(app: &TestApp, uuid: &str) -> reqwest::RequestBuilder {
    app.http.get(app.url(&format!("/chatfiles/{uuid}"))).bearer_auth(&app.app_token)
}

/// A real picture: a 640 × 480 PNG gradient, well over 10 KB.
fn picture() -> Vec<u8> {
    let image = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Files on the folder and on S3 behave the same; this is what both must do.
async fn files_round_trip(app: &TestApp) {
    let text: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let (status, body) = upload(app, "../../notes.bin", "application/octet-stream", text.clone(), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entity = &body["entities"][0];
    assert_eq!(entity["type"], "chatfile");
    let uuid = entity["uuid"].as_str().unwrap().to_owned();
    assert!(entity["share-secret"].is_string());

    let response = download(app, &uuid).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(response.bytes().await.unwrap().to_vec(), text);
    let response = download(app, &uuid).header(RANGE, "bytes=100-199").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()[CONTENT_RANGE], format!("bytes 100-199/{}", text.len()));
    assert_eq!(response.bytes().await.unwrap().to_vec(), text[100..200]);
    let response = download(app, &uuid).header(RANGE, "bytes=-4").send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), text[text.len() - 4..]);
    let response = download(app, &uuid).header(RANGE, format!("bytes={}-", text.len())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Restricted: the share secret, in the header or the query, opens it.
    let (_, body) = upload(app, "secret.txt", "text/plain", b"for your eyes".to_vec(), true).await;
    let uuid = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let secret = body["entities"][0]["share-secret"].as_str().unwrap().to_owned();
    let refused = download(app, &uuid).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let wrong = download(app, &uuid).header("share-secret", "guess").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let opened = download(app, &uuid).header("share-secret", &secret).send().await.unwrap();
    assert_eq!(opened.bytes().await.unwrap().as_ref(), b"for your eyes");
    let url = app.url(&format!("/chatfiles/{uuid}?share-secret={secret}"));
    let opened = app.http.get(url).bearer_auth(&app.app_token).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);

    // A thumbnail of a real picture: a JPEG within 170 × 170.
    let (_, body) = upload(app, "photo.png", "image/png", picture(), false).await;
    let uuid = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let thumb = download(app, &uuid).header("thumbnail", "true").send().await.unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()[CONTENT_TYPE], "image/jpeg");
    let small = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (170, 128));
    // Made once, served again.
    let again = download(app, &uuid).header("thumbnail", "true").send().await.unwrap();
    assert_eq!(image::load_from_memory(&again.bytes().await.unwrap()).unwrap().width(), 170);
    let original = download(app, &uuid).send().await.unwrap();
    assert_eq!(original.bytes().await.unwrap().len(), picture().len());

    let missing = download(app, "no-such-file").send().await.unwrap();
    let status = missing.status();
    assert_error(status, &missing.json().await.unwrap(), 404, "entity_not_found");
}

#[tokio::test]
async fn files_are_stored_served_in_ranges_and_thumbnailed_on_the_local_folder() {
    let app = spawn_app().await;
    files_round_trip(&app).await;
    // Stored under names the server made, inside the data folder only.
    let folder = app.storage.data_dir.path().join("files");
    for entry in walk(&folder) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.contains("notes") && !name.contains("photo"), "a user's name became a path: {entry:?}");
    }
    assert!(!app.storage.data_dir.path().parent().unwrap().join("notes.bin").exists());
}

#[tokio::test]
async fn files_work_the_same_on_s3_compatible_storage() {
    let (endpoint, bucket) = s3_bucket().await;
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.s3 = Some(S3Settings {
            bucket: bucket.clone(),
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
        })
    })
    .await;
    files_round_trip(&app).await;
    // Nothing went to the local folder.
    assert!(walk(&app.storage.data_dir.path().join("files")).is_empty());
}

#[tokio::test]
async fn uploads_over_10_mb_are_refused_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let (status, body) =
        upload(&app, "big.bin", "application/octet-stream", vec![7u8; 10 * 1024 * 1024 + 1], false).await;
    assert_error(status, &body, 413, "file exceeding maximum limit");
    assert!(walk(&app.storage.data_dir.path().join("files")).is_empty(), "nothing kept");
    let (status, _) = upload(&app, "fits.bin", "application/octet-stream", vec![7u8; 10 * 1024 * 1024], false).await;
    assert_eq!(status, StatusCode::OK);

    let no_file = Form::new().text("other", "x");
    let response =
        app.http.post(app.url("/chatfiles")).bearer_auth(&app.app_token).multipart(no_file).send().await.unwrap();
    let status = response.status();
    assert_error(status, &response.json().await.unwrap(), 400, "illegal_argument");
    let anonymous = app.http.post(app.url("/chatfiles")).multipart(Form::new().text("file", "x")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn thumbnails_refuse_what_is_not_a_safe_image() {
    let app = spawn_app().await;
    // A tiny picture is its own thumbnail.
    let mut tiny = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(8, 8).write_to(&mut tiny, image::ImageFormat::Png).unwrap();
    let tiny = tiny.into_inner();
    let (_, body) = upload(&app, "tiny.png", "image/png", tiny.clone(), false).await;
    let uuid = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let thumb = download(&app, &uuid).header("thumbnail", "true").send().await.unwrap();
    assert_eq!(thumb.bytes().await.unwrap().to_vec(), tiny);

    // A decompression bomb: a PNG header claiming 60,000 × 60,000 pixels,
    // padded past the size that is its own thumbnail. Refused, not decoded.
    let mut bomb = png_claiming(60_000, 60_000);
    bomb.resize(20_000, 0);
    let (_, body) = upload(&app, "bomb.png", "image/png", bomb, false).await;
    let uuid = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let refused = download(&app, &uuid).header("thumbnail", "true").send().await.unwrap();
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    assert_error(status, &body, 400, "illegal_argument");
    assert!(body["error_description"].as_str().unwrap().contains("too large"), "{body}");

    let (_, body) = upload(&app, "notes.txt", "text/plain", vec![b'x'; 20_000], false).await;
    let uuid = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let refused = download(&app, &uuid).header("thumbnail", "true").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

/// Every file under `dir` (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The start of a PNG whose header (with a valid checksum) claims an image of
/// `width` × `height` pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&chunk);
    png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
