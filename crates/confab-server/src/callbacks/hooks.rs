//! LeanCloud's hooks beyond pre-send and post-send, as its cloud engine
//! receives them (`{engine URL}/1.1/functions/_…`, with `X-LC-Hook-Key`):
//! `_rtmClientSign`, `_receiversOffline`, `_messageUpdate`, the
//! conversation hooks that may reject a change, and the after-the-fact
//! notices whose answers are ignored. Sources: docs/design/callbacks-research.md.

use serde_json::{json, Value};

use confab_core::callbacks::Verdict;
use confab_core::model::{App, Message, Original};

use super::formats::{json_answer, leancloud_answer, leancloud_conv, leancloud_headers, Call, Unreadable};

/// LeanCloud's `_rtmClientSign` hook call: the user as its `_User` object.
pub fn sign_hook(app: &App, user: &confab_core::model::User, token: &str, secret: &str, now_ms: i64) -> Call {
    let at = |ms: i64| crate::leancloud::iso(ms);
    let body = json!({
        "objectId": user.username.as_str(),
        "username": user.username.as_str(),
        "sessionToken": token,
        "createdAt": at(user.created_ms),
        "updatedAt": at(user.modified_ms),
    });
    Call { suffix: "/1.1/functions/_rtmClientSign", headers: leancloud_headers(app, secret, now_ms), body }
}

/// The hook's answer: `None` to sign, `Some(why)` to refuse.
pub fn sign_answer(status: u16, body: &[u8]) -> Result<Option<String>, Unreadable> {
    let answer = json_answer(status, body)?;
    match answer.get("result") {
        Some(Value::Bool(true)) => Ok(None),
        Some(Value::Bool(false)) => Ok(Some(
            answer.get("error").and_then(Value::as_str).unwrap_or("the app's server refused to sign").to_owned(),
        )),
        _ => Err(Unreadable("the answer has no boolean `result`".into())),
    }
}

/// LeanCloud's `_receiversOffline`: before `message` is pushed to the
/// receivers whose devices did not take it (`offline`, of whom `mentioned`
/// are mentioned).
pub fn receivers_offline(
    app: &App,
    message: &Message,
    offline: &[&str],
    mentioned: &[&str],
    secret: &str,
    now_ms: i64,
) -> Call {
    let mention_all = matches!(&message.original, Some(Original::LeanCloud { mention_all: true, .. }));
    let body = json!({
        "fromPeer": message.from.as_str(),
        "convId": leancloud_conv(message),
        "offlinePeers": offline,
        "content": crate::leancloud_data::data(message),
        "timestamp": message.timestamp_ms,
        "mentionAll": mention_all,
        "mentionOfflinePeers": mentioned,
    });
    Call { suffix: "/1.1/functions/_receiversOffline", headers: leancloud_headers(app, secret, now_ms), body }
}

/// What `_receiversOffline` answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfflineAnswer {
    /// Push to nobody.
    pub skip: bool,
    /// Push only to these.
    pub peers: Option<Vec<String>>,
    /// The push's words: text, or an object read as `push_data` is (the
    /// hook may also return either as JSON text).
    pub push: Option<Value>,
    /// Also to receivers who muted the conversation.
    pub force: bool,
}

pub fn receivers_offline_answer(status: u16, body: &[u8]) -> Result<OfflineAnswer, Unreadable> {
    let answer = json_answer(status, body)?;
    let result = match answer.get("result") {
        Some(result) => result.clone(),
        None => answer,
    };
    let Value::Object(result) = result else {
        return Ok(OfflineAnswer::default());
    };
    let peers = match result.get("offlinePeers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(peers)) => Some(peers.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect()),
        Some(_) => return Err(Unreadable("offlinePeers must be a list".into())),
    };
    let push = match result.get("pushMessage") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(object @ Value::Object(_)) => Some(object),
            _ => Some(Value::String(text.clone())),
        },
        Some(object @ Value::Object(_)) => Some(object.clone()),
        Some(_) => return Err(Unreadable("pushMessage must be text or an object".into())),
    };
    let yes = |key: &str| result.get(key).and_then(Value::as_bool).unwrap_or(false);
    Ok(OfflineAnswer { skip: yes("skip"), peers, push, force: yes("force") })
}

/// LeanCloud's `_messageUpdate`: before a client's edit (`content` the new
/// data) or recall of `message` is applied.
pub fn message_update(app: &App, message: &Message, content: Option<&str>, secret: &str, now_ms: i64) -> Call {
    let old = crate::leancloud_data::data(message);
    let body = json!({
        "fromPeer": message.from.as_str(),
        "convId": leancloud_conv(message),
        "toPeers": message.receivers.as_ref().map(|r| r.iter().map(|u| u.as_str()).collect::<Vec<_>>()),
        "bin": false,
        "content": content.unwrap_or(&old),
        "timestamp": message.timestamp_ms,
        "msgId": message.id.to_string(),
        "recall": content.is_none(),
        "system": false,
    });
    Call { suffix: "/1.1/functions/_messageUpdate", headers: leancloud_headers(app, secret, now_ms), body }
}

/// What `_messageUpdate` decided: go on (`Ok(None)`), go on with other
/// content (`Ok(Some(content))`), or reject (`Err(detail)`).
pub type UpdateVerdict = Result<Option<String>, Option<String>>;

pub fn message_update_answer(message: &Message, status: u16, body: &[u8]) -> Result<UpdateVerdict, Unreadable> {
    Ok(match leancloud_answer(message, status, body)? {
        Verdict::Pass => Ok(None),
        Verdict::Refuse { detail } => Err(detail),
        Verdict::Replace { original: Some(Original::LeanCloud { data, .. }), .. } => Ok(Some(data)),
        Verdict::Replace { .. } => Ok(None),
    })
}

/// A conversation change LeanCloud's hooks are asked about first.
pub enum ConversationChange<'a> {
    /// `_conversationStart`: a client makes a conversation of `members` with `attr`.
    Start { members: &'a [String], attr: &'a serde_json::Map<String, Value> },
    /// `_conversationAdd`: a client adds `members` to `conv` (or joins it: itself only).
    Add { conv: &'a str, members: &'a [String] },
    /// `_conversationRemove`: a client removes others from `conv` (not asked when one leaves).
    Remove { conv: &'a str, members: &'a [String] },
    /// `_conversationUpdate`: a client changes `conv`'s attributes, or mutes
    /// (`true`) or unmutes its notifications.
    Update { conv: &'a str, attr: Option<&'a serde_json::Map<String, Value>>, mute: Option<bool> },
}

pub fn conversation_hook(app: &App, init_by: &str, change: &ConversationChange<'_>, secret: &str, now_ms: i64) -> Call {
    let (suffix, body) = match change {
        ConversationChange::Start { members, attr } => {
            ("/1.1/functions/_conversationStart", json!({"initBy": init_by, "members": members, "attr": attr}))
        }
        ConversationChange::Add { conv, members } => {
            ("/1.1/functions/_conversationAdd", json!({"initBy": init_by, "members": members, "convId": conv}))
        }
        ConversationChange::Remove { conv, members } => {
            ("/1.1/functions/_conversationRemove", json!({"initBy": init_by, "members": members, "convId": conv}))
        }
        ConversationChange::Update { conv, attr, mute } => {
            let mut body = json!({"initBy": init_by, "convId": conv});
            match (attr, mute) {
                (Some(attr), _) => body["attr"] = json!(attr),
                (None, Some(mute)) => body["mute"] = json!(mute),
                (None, None) => {}
            }
            ("/1.1/functions/_conversationUpdate", body)
        }
    };
    Call { suffix, headers: leancloud_headers(app, secret, now_ms), body }
}

/// The hook's answer: `None` to go on, `Some((code, detail))` when it
/// rejects (`reject: true`).
pub fn conversation_answer(status: u16, body: &[u8]) -> Result<Option<(Option<i32>, String)>, Unreadable> {
    let answer = json_answer(status, body)?;
    let result = match answer.get("result") {
        Some(result) => result.clone(),
        None => answer,
    };
    if result.get("reject").and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let code = result.get("code").and_then(Value::as_i64).and_then(|c| i32::try_from(c).ok());
    let detail = result.get("detail").and_then(Value::as_str).unwrap_or("rejected by the app's server").to_owned();
    Ok(Some((code, detail)))
}

/// LeanCloud's after-the-fact hooks, whose answers are ignored.
pub const CLIENT_ONLINE: &str = "/1.1/functions/_clientOnline";
pub const CLIENT_OFFLINE: &str = "/1.1/functions/_clientOffline";
pub const CONVERSATION_STARTED: &str = "/1.1/functions/_conversationStarted";
pub const CONVERSATION_ADDED: &str = "/1.1/functions/_conversationAdded";
pub const CONVERSATION_REMOVED: &str = "/1.1/functions/_conversationRemoved";

/// One of those, with its body.
pub fn after_the_fact(app: &App, suffix: &'static str, body: Value, secret: &str, now_ms: i64) -> Call {
    Call { suffix, headers: leancloud_headers(app, secret, now_ms), body }
}

/// What `_conversationUpdate` may answer besides a rejection: the
/// attributes or the mute to apply instead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateInstead {
    pub attr: Option<serde_json::Map<String, Value>>,
    pub mute: Option<bool>,
}

/// `_conversationUpdate`'s answer: `Err((code, detail))` rejects; otherwise
/// what to apply instead, if anything.
pub fn conversation_update_answer(
    status: u16,
    body: &[u8],
) -> Result<Result<UpdateInstead, (Option<i32>, String)>, Unreadable> {
    if let Some(rejected) = conversation_answer(status, body)? {
        return Ok(Err(rejected));
    }
    let answer = json_answer(status, body)?;
    let result = answer.get("result").cloned().unwrap_or(answer);
    let attr = match result.get("attr") {
        None | Some(Value::Null) => None,
        Some(Value::Object(attr)) => Some(attr.clone()),
        Some(_) => return Err(Unreadable("attr must be an object".into())),
    };
    Ok(Ok(UpdateInstead { attr, mute: result.get("mute").and_then(Value::as_bool) }))
}

#[cfg(test)]
mod tests {
    use super::super::formats::tests::{app, message};
    use super::*;

    #[test]
    fn the_sign_hook_allows_or_refuses_with_the_apps_words() {
        assert_eq!(sign_answer(200, br#"{"result": true}"#), Ok(None));
        assert_eq!(sign_answer(200, br#"{"result": false, "error": "banned"}"#), Ok(Some("banned".into())));
        assert!(sign_answer(200, br#"{"ok": 1}"#).is_err());
        assert!(sign_answer(502, b"").is_err());
    }

    #[test]
    fn the_receivers_offline_hook_may_skip_narrow_reword_and_force() {
        assert_eq!(receivers_offline_answer(200, b"{}"), Ok(OfflineAnswer::default()));
        assert_eq!(receivers_offline_answer(200, br#"{"result": {"skip": true}}"#).map(|a| a.skip), Ok(true));
        let answer = receivers_offline_answer(
            200,
            br#"{"offlinePeers": ["a"], "pushMessage": "{\"alert\": \"x\"}", "force": true}"#,
        )
        .unwrap();
        assert_eq!(answer.peers, Some(vec!["a".to_owned()]));
        assert_eq!(answer.push, Some(serde_json::json!({"alert": "x"})), "JSON text is read as an object");
        assert!(answer.force);
        let plain = receivers_offline_answer(200, br#"{"pushMessage": "just words"}"#).unwrap();
        assert_eq!(plain.push, Some(Value::String("just words".into())));
        assert!(receivers_offline_answer(200, br#"{"offlinePeers": "a"}"#).is_err());
        assert!(receivers_offline_answer(500, b"").is_err());
        let call = receivers_offline(&app(), &message("hi"), &["bob"], &[], "hook-key", 5);
        assert_eq!(call.suffix, "/1.1/functions/_receiversOffline");
        assert_eq!(
            (call.body["offlinePeers"].clone(), call.body["content"].clone()),
            (serde_json::json!(["bob"]), Value::from("hi"))
        );
    }

    #[test]
    fn the_message_update_hook_passes_rejects_or_rewrites() {
        let m = message("old");
        assert_eq!(message_update_answer(&m, 200, b"{}"), Ok(Ok(None)));
        assert_eq!(
            message_update_answer(&m, 200, br#"{"result": {"drop": true, "detail": "no"}}"#),
            Ok(Err(Some("no".into())))
        );
        assert_eq!(message_update_answer(&m, 200, br#"{"content": "new"}"#), Ok(Ok(Some("new".into()))));
        let recall = message_update(&app(), &m, None, "k", 1);
        assert_eq!(
            (recall.suffix, recall.body["recall"].clone(), recall.body["content"].clone()),
            ("/1.1/functions/_messageUpdate", json!(true), json!("old"))
        );
        let edit = message_update(&app(), &m, Some("new"), "k", 1);
        assert_eq!((edit.body["recall"].clone(), edit.body["content"].clone()), (json!(false), json!("new")));
    }

    #[test]
    fn conversation_hooks_reject_with_the_apps_code() {
        assert_eq!(conversation_answer(200, b"{}"), Ok(None));
        assert_eq!(conversation_answer(200, br#"{"result": {"reject": false}}"#), Ok(None));
        assert_eq!(
            conversation_answer(200, br#"{"reject": true, "code": 9, "detail": "no"}"#),
            Ok(Some((Some(9), "no".to_owned())))
        );
        assert!(conversation_answer(500, b"").is_err());
        let members = vec!["bob".to_owned()];
        let call =
            conversation_hook(&app(), "alice", &ConversationChange::Add { conv: "c1", members: &members }, "k", 1);
        assert_eq!(call.suffix, "/1.1/functions/_conversationAdd");
        assert_eq!(call.body, json!({"initBy": "alice", "members": ["bob"], "convId": "c1"}));
    }
}
