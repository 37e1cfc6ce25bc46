//! The providers' requests and answers.
//!
//! - **APNs** (HTTP/2): `POST /3/device/{token}` with a provider token, an
//!   ES256 JWT (`kid` the key ID, `iss` the team, `iat`) signed with the .p8
//!   key and kept for 50 minutes (Apple refuses tokens older than an hour and
//!   throttles new ones made more than every 20 minutes). 410 `Unregistered`
//!   and 400 `BadDeviceToken`/`DeviceTokenNotForTopic` mean the token is gone;
//!   429 and 5xx are tried again; 403 `ExpiredProviderToken` makes a new JWT.
//! - **FCM** HTTP v1: `POST /v1/projects/{project}/messages:send` with an
//!   OAuth access token got from the service account's `token_uri` with an
//!   RS256 assertion (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`),
//!   kept until a minute before it expires. 404 `UNREGISTERED` (and 400
//!   `INVALID_ARGUMENT` naming the token) mean the token is gone; 429 and 5xx
//!   are tried again; 401 fetches a new access token.
//! - **Webhook**: `POST` of confab's JSON, signed with `X-Confab-Signature`;
//!   2xx taken, 410 gone, 429/5xx again, any other status refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::devices::Device;
use super::notice::Notice;
use super::{Apns, ApnsEnvironment, Fcm, Webhook, APNS_PRODUCTION, APNS_SANDBOX, FCM_ENDPOINT};
use crate::fetch::{Fetcher, Http};

/// How long one push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an APNs provider token is used.
const APNS_TOKEN_FOR: Duration = Duration::from_secs(50 * 60);
/// Most bytes of a provider's answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// What a provider made of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The token is no longer valid: the binding is dropped.
    Gone(String),
    /// Worth trying again later.
    Retry(String),
    /// Refused for good (a bad payload, bad credentials).
    Failed(String),
}

/// The providers' credentials in use: APNs provider tokens and FCM access
/// tokens, kept per key and reused until they are due to expire.
#[derive(Default)]
pub struct Tokens {
    apns: Mutex<HashMap<String, (Instant, String)>>,
    fcm: Mutex<HashMap<String, (Instant, String)>>,
}

impl Tokens {
    fn apns(&self, apns: &Apns, now_secs: i64) -> Result<String, String> {
        let mut cache = self.apns.lock().unwrap_or_else(|e| e.into_inner());
        let id = format!("{}/{}", apns.team_id, apns.key_id);
        if let Some((made, token)) = cache.get(&id) {
            if made.elapsed() < APNS_TOKEN_FOR {
                return Ok(token.clone());
            }
        }
        let key = jsonwebtoken::EncodingKey::from_ec_pem(apns.key.as_bytes()).map_err(|e| e.to_string())?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(apns.key_id.clone());
        let token = jsonwebtoken::encode(&header, &json!({"iss": apns.team_id, "iat": now_secs}), &key)
            .map_err(|e| e.to_string())?;
        cache.insert(id, (Instant::now(), token.clone()));
        Ok(token)
    }

    fn forget_apns(&self, apns: &Apns) {
        self.apns.lock().unwrap_or_else(|e| e.into_inner()).remove(&format!("{}/{}", apns.team_id, apns.key_id));
    }

    async fn fcm(&self, fetcher: &Fetcher, fcm: &Fcm, now_secs: i64) -> Result<String, Outcome> {
        if let Some((until, token)) = self.fcm.lock().unwrap_or_else(|e| e.into_inner()).get(&fcm.client_email) {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(fcm.private_key.as_bytes())
            .map_err(|e| Outcome::Failed(format!("the service account's key: {e}")))?;
        let claims = json!({
            "iss": fcm.client_email,
            "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "aud": fcm.token_uri,
            "iat": now_secs,
            "exp": now_secs + 3600,
        });
        let assertion = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key)
            .map_err(|e| Outcome::Failed(e.to_string()))?;
        let form = serde_urlencoded::to_string([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .map_err(|e| Outcome::Failed(e.to_string()))?;
        let (status, body) =
            call(fetcher, &fcm.token_uri, Http::Any, "application/x-www-form-urlencoded", form.into_bytes(), &[])
                .await?;
        if status != 200 {
            let why = format!("the token endpoint answered {status}: {}", String::from_utf8_lossy(&body));
            return Err(if status >= 500 || status == 429 { Outcome::Retry(why) } else { Outcome::Failed(why) });
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|e| Outcome::Retry(e.to_string()))?;
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Outcome::Retry("no access_token".into()))?;
        let lasts = answer.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).saturating_sub(60);
        self.fcm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fcm.client_email.clone(), (Instant::now() + Duration::from_secs(lasts), token.to_owned()));
        Ok(token.to_owned())
    }

    fn forget_fcm(&self, fcm: &Fcm) {
        self.fcm.lock().unwrap_or_else(|e| e.into_inner()).remove(&fcm.client_email);
    }
}

/// Posts, and reads the status and (a bounded part of) the answer; a call
/// that gets no answer is worth retrying.
async fn call(
    fetcher: &Fetcher,
    url: &str,
    http: Http,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<(u16, Vec<u8>), Outcome> {
    let answer = async {
        let mut response = fetcher.post(url, http, content_type, body, headers).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut read = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if read.len() < MAX_ANSWER_BYTES {
                read.extend_from_slice(&chunk);
            }
        }
        Ok::<_, String>((status, read))
    };
    match tokio::time::timeout(PUSH_TIMEOUT, answer).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(Outcome::Retry(e)),
        Err(_) => Err(Outcome::Retry(format!("no answer within {} s", PUSH_TIMEOUT.as_secs()))),
    }
}

/// The APNs payload: `aps` with the alert, badge and sound, and the app's fields beside it.
pub fn apns_payload(notice: &Notice) -> Value {
    let alert = match &notice.title {
        Some(title) => json!({"title": title, "body": notice.body}),
        None => json!({"body": notice.body}),
    };
    let mut aps = json!({"alert": alert});
    if let Some(badge) = notice.badge {
        aps["badge"] = json!(badge);
    }
    if let Some(sound) = &notice.sound {
        aps["sound"] = json!(sound);
    }
    let mut payload = json!({"aps": aps});
    for (key, value) in &notice.data {
        if key != "aps" {
            payload[key] = json!(value);
        }
    }
    payload
}

pub async fn apns(
    fetcher: &Fetcher,
    tokens: &Tokens,
    apns: &Apns,
    device: &Device,
    notice: &Notice,
    now_secs: i64,
) -> Outcome {
    let base = match (&apns.endpoint, notice.sandbox, apns.environment) {
        (Some(endpoint), _, _) => endpoint.as_str(),
        (None, true, _) | (None, false, ApnsEnvironment::Sandbox) => APNS_SANDBOX,
        (None, false, ApnsEnvironment::Production) => APNS_PRODUCTION,
    };
    let url = format!("{}/3/device/{}", base.trim_end_matches('/'), device.token);
    let body = apns_payload(notice).to_string().into_bytes();
    for attempt in 0..2 {
        let jwt = match tokens.apns(apns, now_secs) {
            Ok(jwt) => jwt,
            Err(e) => return Outcome::Failed(format!("cannot sign the provider token: {e}")),
        };
        let headers = [
            ("authorization", format!("bearer {jwt}")),
            ("apns-topic", apns.topic.clone()),
            ("apns-push-type", "alert".to_owned()),
            ("apns-priority", "10".to_owned()),
            ("apns-collapse-id", notice.collapse_id.clone()),
        ];
        let (status, answer) = match call(fetcher, &url, Http::Two, "application/json", body.clone(), &headers).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        let reason = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|a| a.get("reason").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        match (status, reason.as_str()) {
            (200, _) => return Outcome::Sent,
            (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
                return Outcome::Gone(format!("{status} {reason}"))
            }
            (403, "ExpiredProviderToken") if attempt == 0 => tokens.forget_apns(apns),
            (429, _) | (500..=599, _) => return Outcome::Retry(format!("{status} {reason}")),
            _ => return Outcome::Failed(format!("{status} {reason}")),
        }
    }
    Outcome::Failed("the provider token was refused twice".into())
}

/// The FCM HTTP v1 message: a notification, the app's fields as strings, the
/// badge for Android and for Apple devices reached through FCM.
pub fn fcm_message(device: &Device, notice: &Notice) -> Value {
    let mut notification = json!({"body": notice.body});
    if let Some(title) = &notice.title {
        notification["title"] = json!(title);
    }
    let mut android = json!({"priority": "high", "collapse_key": notice.collapse_id});
    let mut aps = json!({});
    if let Some(badge) = notice.badge {
        android["notification"] = json!({"notification_count": badge});
        aps["badge"] = json!(badge);
    }
    if let Some(sound) = &notice.sound {
        aps["sound"] = json!(sound);
    }
    json!({"message": {
        "token": device.token,
        "notification": notification,
        "data": notice.data,
        "android": android,
        "apns": {"headers": {"apns-collapse-id": notice.collapse_id}, "payload": {"aps": aps}},
    }})
}

pub async fn fcm(
    fetcher: &Fetcher,
    tokens: &Tokens,
    fcm: &Fcm,
    device: &Device,
    notice: &Notice,
    now_secs: i64,
) -> Outcome {
    let base = fcm.endpoint.as_deref().unwrap_or(FCM_ENDPOINT).trim_end_matches('/');
    let url = format!("{base}/v1/projects/{}/messages:send", fcm.project_id);
    let body = fcm_message(device, notice).to_string().into_bytes();
    for attempt in 0..2 {
        let access = match tokens.fcm(fetcher, fcm, now_secs).await {
            Ok(access) => access,
            Err(outcome) => return outcome,
        };
        let headers = [("authorization", format!("Bearer {access}"))];
        let (status, answer) = match call(fetcher, &url, Http::Two, "application/json", body.clone(), &headers).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        let error = serde_json::from_slice::<Value>(&answer).ok().and_then(|a| a.get("error").cloned());
        let code = fcm_error_code(error.as_ref());
        match (status, code.as_str()) {
            (200, _) => return Outcome::Sent,
            (404, _) | (_, "UNREGISTERED") => return Outcome::Gone(format!("{status} {code}")),
            (400, "INVALID_ARGUMENT") if mentions_token(error.as_ref()) => {
                return Outcome::Gone(format!("{status} {code}"))
            }
            (401, _) if attempt == 0 => tokens.forget_fcm(fcm),
            (429, _) | (500..=599, _) => return Outcome::Retry(format!("{status} {code}")),
            _ => return Outcome::Failed(format!("{status} {code}")),
        }
    }
    Outcome::Failed("the access token was refused twice".into())
}

/// FCM's own error code: `error.details[].errorCode`, else `error.status`.
fn fcm_error_code(error: Option<&Value>) -> String {
    let Some(error) = error else { return String::new() };
    let detail = error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|details| details.iter().find_map(|d| d.get("errorCode").and_then(Value::as_str)));
    detail.or_else(|| error.get("status").and_then(Value::as_str)).unwrap_or_default().to_owned()
}

fn mentions_token(error: Option<&Value>) -> bool {
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
    message.contains("registration token")
}

/// The webhook's body: who, which device, and the notification.
pub fn webhook_body(app: &str, user: &str, device: &Device, notice: &Notice) -> Value {
    json!({
        "app": app,
        "user": user,
        "device_id": device.device_id,
        "device_token": device.token,
        "notifier": device.notifier,
        "title": notice.title,
        "body": notice.body,
        "badge": notice.badge,
        "sound": notice.sound,
        "data": notice.data,
        "collapse_id": notice.collapse_id,
    })
}

pub async fn webhook(fetcher: &Fetcher, hook: &Webhook, body: &Value, now_ms: i64) -> Outcome {
    let body = body.to_string().into_bytes();
    let mut headers = Vec::new();
    if let Some(secret) = hook.secret.as_deref().filter(|s| !s.is_empty()) {
        headers.push(("X-Confab-Signature", crate::callbacks::signature(secret, now_ms, &body)));
    }
    match call(fetcher, &hook.url, Http::Any, "application/json", body, &headers).await {
        Ok((200..=299, _)) => Outcome::Sent,
        Ok((410, _)) => Outcome::Gone("410".into()),
        Ok((status @ (429 | 500..=599), _)) => Outcome::Retry(status.to_string()),
        Ok((status, _)) => Outcome::Failed(status.to_string()),
        Err(outcome) => outcome,
    }
}
