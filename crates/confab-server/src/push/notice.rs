//! What one receiver's notification of one message says, or why there is none.
//!
//! The rules, each from the vendor whose apps rely on it:
//! - a command message, a chat-room message, and one the receiver sent are
//!   never pushed; nor one whose `ext.em_ignore_notification` is true (Easemob);
//! - a conversation the receiver muted (LeanCloud's `mu`) stays silent unless
//!   the message mentions them;
//! - do-not-disturb hours (Easemob's `no_disturb_start`/`_end`, whole UTC
//!   hours, wrapping past midnight, the same hour twice meaning all day) hold
//!   back everything but a message with `ext.em_force_notification`;
//! - the receiver's display style: 0 (the default) says only "您有一条新消息"
//!   (the vendors' words), 1 the sender's push nickname and the text;
//! - the message's own push text wins over both: Easemob's
//!   `ext.em_apns_ext.em_push_title`/`em_push_content`, LeanCloud's `push_data`
//!   (`alert`, `title`, `badge`, `sound`, `_profile: "dev"` for Apple's
//!   sandbox, its other fields handed to the app), WildfireChat's `pushContent`;
//! - the badge is the receiver's unread count in confab, up to 99.

use std::collections::BTreeMap;

use serde_json::Value;

use confab_core::model::{Body, ChatType, Message, Original, PushSettings, Username};

/// The vendors' words for a notification that shows no details.
pub const GENERIC: &str = "您有一条新消息";

/// One notification, before a provider shapes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub title: Option<String>,
    pub body: String,
    pub badge: Option<u64>,
    pub sound: Option<String>,
    /// For the app: `f` (from), `t` (to), `m` (message ID), `g` (group), and
    /// the fields of LeanCloud's `push_data` beyond the alert.
    pub data: BTreeMap<String, String>,
    /// The same for every device and retry of one message, so a phone shows
    /// one notification even if a provider were handed it twice.
    pub collapse_id: String,
    /// Apple's sandbox rather than the provider's environment.
    pub sandbox: bool,
}

/// What is known of the receiver when deciding.
pub struct Receiver<'a> {
    pub user: &'a Username,
    pub push: &'a PushSettings,
    /// They turned this conversation's notifications off.
    pub muted: bool,
    pub unread: u64,
}

/// What the app's server said about this push (LeanCloud's `_receiversOffline`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Words for the push: text, or an object read as `push_data` is.
    pub push: Option<Value>,
    /// Also push to receivers who muted the conversation.
    pub force: bool,
}

/// Pushed, or skipped and why (a metric label).
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Push(Box<Notice>),
    Skip(&'static str),
}

/// Whether a message may be pushed to anyone at all.
pub fn pushable(message: &Message) -> bool {
    message.state.is_visible()
        && !matches!(message.chat_type, ChatType::ChatRoom)
        && !matches!(message.body, Body::Command { .. })
        && !flag(message.ext.as_ref(), "em_ignore_notification")
}

/// The notification `receiver` gets for `message`, sent by someone whose push
/// nickname is `sender_name`, at `now_ms`.
pub fn decide(
    message: &Message,
    sender_name: &str,
    receiver: &Receiver<'_>,
    overrides: &Overrides,
    now_ms: i64,
) -> Decision {
    if !pushable(message) {
        return Decision::Skip("not_pushed");
    }
    if message.from == *receiver.user {
        return Decision::Skip("own");
    }
    let forced = flag(message.ext.as_ref(), "em_force_notification");
    let mentioned = mentions(message, receiver.user);
    if receiver.muted && !mentioned && !forced && !overrides.force {
        return Decision::Skip("muted");
    }
    if !forced && quiet_now(receiver.push, now_ms) {
        return Decision::Skip("do_not_disturb");
    }
    let details = receiver.push.display_style == Some(1);
    let (mut title, mut body) = match details {
        true => (Some(sender_name.to_owned()), preview(message)),
        false => (None, GENERIC.to_owned()),
    };
    if mentioned && details {
        body = format!("[有人@你] {body}");
    }
    let mut notice = Notice {
        title: None,
        body: String::new(),
        badge: Some(receiver.unread),
        sound: Some("default".into()),
        data: BTreeMap::from([
            ("f".to_owned(), message.from.to_string()),
            ("t".to_owned(), message.to.clone()),
            ("m".to_owned(), message.id.to_string()),
        ]),
        collapse_id: message.id.to_string(),
        sandbox: false,
    };
    if matches!(message.chat_type, ChatType::GroupChat | ChatType::Thread | ChatType::Channel) {
        notice.data.insert("g".into(), message.to.clone());
    }
    // The message's own words win.
    if let Some(apns) = message.ext.as_ref().and_then(|e| e.get("em_apns_ext")) {
        if let Some(t) = apns.get("em_push_title").and_then(Value::as_str) {
            title = Some(t.to_owned());
        }
        if let Some(c) = apns.get("em_push_content").and_then(Value::as_str) {
            body = c.to_owned();
        }
    }
    if let Some(Original::Wildfire { payload, .. }) = &message.original {
        if let Some(c) = payload.get("pushContent").and_then(Value::as_str).filter(|c| !c.is_empty()) {
            body = c.to_owned();
        }
    }
    if let Some(push_data) = message.ext.as_ref().and_then(|e| e.get("push_data")).and_then(Value::as_object) {
        apply_push_data(push_data, &mut title, &mut body, &mut notice);
    }
    match &overrides.push {
        Some(Value::String(text)) => body = text.clone(),
        Some(Value::Object(push)) => apply_push_data(push, &mut title, &mut body, &mut notice),
        _ => {}
    }
    notice.title = title;
    notice.body = body;
    Decision::Push(Box::new(notice))
}

/// LeanCloud's push fields: `alert` (text, or `title` and `body`), `title`,
/// `sound`, `badge` (a number; "Increment" is the unread count, already
/// there), `_profile: "dev"` (Apple's sandbox); the rest is the app's data.
fn apply_push_data(
    push_data: &serde_json::Map<String, Value>,
    title: &mut Option<String>,
    body: &mut String,
    notice: &mut Notice,
) {
    for (key, value) in push_data {
        match (key.as_str(), value) {
            ("alert", Value::String(text)) => *body = text.clone(),
            ("alert", Value::Object(alert)) => {
                if let Some(t) = alert.get("title").and_then(Value::as_str) {
                    *title = Some(t.to_owned());
                }
                if let Some(b) = alert.get("body").and_then(Value::as_str) {
                    *body = b.to_owned();
                }
            }
            ("title", Value::String(t)) => *title = Some(t.clone()),
            ("sound", Value::String(s)) => notice.sound = Some(s.clone()),
            ("badge", Value::Number(n)) => notice.badge = n.as_u64(),
            ("badge", _) => {}
            ("_profile", Value::String(p)) => notice.sandbox = p == "dev",
            (key, Value::String(s)) => {
                notice.data.insert(key.to_owned(), s.clone());
            }
            (key, other) => {
                notice.data.insert(key.to_owned(), other.to_string());
            }
        }
    }
}

fn flag(ext: Option<&Value>, key: &str) -> bool {
    ext.and_then(|e| e.get(key)).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether the message mentions the receiver (or everyone), in any dialect's words.
pub fn mentions(message: &Message, user: &Username) -> bool {
    if let Some(Original::LeanCloud { mention_all, mentions, .. }) = &message.original {
        if *mention_all || mentions.contains(user) {
            return true;
        }
    }
    if let Some(Original::Wildfire { payload, .. }) = &message.original {
        let kind = payload.get("mentionedType").and_then(Value::as_i64).unwrap_or(0);
        let targets = payload.get("mentionedTarget").and_then(Value::as_array);
        if kind == 2 || (kind == 1 && targets.is_some_and(|t| t.iter().any(|u| u.as_str() == Some(user.as_str())))) {
            return true;
        }
    }
    match message.ext.as_ref().and_then(|e| e.get("em_at_list")) {
        Some(Value::String(all)) => all.eq_ignore_ascii_case("all"),
        Some(Value::Array(users)) => users.iter().any(|u| u.as_str() == Some(user.as_str())),
        _ => false,
    }
}

/// Whether `now_ms` falls in the receiver's do-not-disturb hours.
pub fn quiet_now(push: &PushSettings, now_ms: i64) -> bool {
    if push.no_disturb != Some(true) {
        return false;
    }
    let (start, end) = (push.no_disturb_start.unwrap_or(0) % 24, push.no_disturb_end.unwrap_or(0) % 24);
    let hour = (now_ms.div_euclid(3_600_000) % 24) as u8;
    match start.cmp(&end) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Less => (start..end).contains(&hour),
        std::cmp::Ordering::Greater => hour >= start || hour < end,
    }
}

/// A message's text as a notification shows it.
fn preview(message: &Message) -> String {
    let text = match &message.body {
        Body::Text { msg } => msg.clone(),
        Body::Image { .. } => "[图片]".into(),
        Body::Audio { .. } => "[语音]".into(),
        Body::Video { .. } => "[视频]".into(),
        Body::File { .. } => "[文件]".into(),
        Body::Location { .. } => "[位置]".into(),
        Body::Command { .. } | Body::Custom { .. } => "[消息]".into(),
    };
    // Providers cap the whole payload (APNs 4 KB); the preview stays well under.
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::ids::MessageId;
    use confab_core::model::{AppId, ConversationId, MessageState};
    use serde_json::json;

    fn user(name: &str) -> Username {
        Username::parse(name).unwrap()
    }

    fn message(ext: Option<Value>) -> Message {
        Message {
            id: MessageId(42),
            app: AppId(1),
            conversation: ConversationId(1),
            seq: 1,
            chat_type: ChatType::Chat,
            from: user("alice"),
            to: "bob".into(),
            body: Body::Text { msg: "hello".into() },
            ext,
            timestamp_ms: 0,
            sync_sender: true,
            origin_device: None,
            original: None,
            receivers: None,
            state: MessageState::Normal,
        }
    }

    fn none() -> Overrides {
        Overrides::default()
    }

    fn receiver<'a>(bob: &'a Username, push: &'a PushSettings, muted: bool) -> Receiver<'a> {
        Receiver { user: bob, push, muted, unread: 3 }
    }

    #[test]
    fn the_display_style_decides_the_words() {
        let bob = user("bob");
        let plain = PushSettings::default();
        let Decision::Push(notice) = decide(&message(None), "Alice", &receiver(&bob, &plain, false), &none(), 0) else {
            panic!("pushed")
        };
        assert_eq!((notice.title.as_deref(), notice.body.as_str(), notice.badge), (None, GENERIC, Some(3)));
        let details = PushSettings { display_style: Some(1), ..Default::default() };
        let Decision::Push(notice) = decide(&message(None), "Alice", &receiver(&bob, &details, false), &none(), 0)
        else {
            panic!("pushed")
        };
        assert_eq!((notice.title.as_deref(), notice.body.as_str()), (Some("Alice"), "hello"));
        assert_eq!(notice.data["m"], "42");
    }

    #[test]
    fn do_not_disturb_wraps_past_midnight_and_force_overrides_it() {
        let night = PushSettings {
            no_disturb: Some(true),
            no_disturb_start: Some(22),
            no_disturb_end: Some(7),
            ..Default::default()
        };
        let hour = |h: i64| h * 3_600_000 + 60_000;
        assert!(quiet_now(&night, hour(23)) && quiet_now(&night, hour(3)) && !quiet_now(&night, hour(7)));
        assert!(!quiet_now(&night, hour(12)));
        let day = PushSettings {
            no_disturb: Some(true),
            no_disturb_start: Some(9),
            no_disturb_end: Some(17),
            ..Default::default()
        };
        assert!(quiet_now(&day, hour(9)) && !quiet_now(&day, hour(17)) && !quiet_now(&day, hour(20)));
        let bob = user("bob");
        assert_eq!(
            decide(&message(None), "A", &receiver(&bob, &night, false), &none(), hour(23)),
            Decision::Skip("do_not_disturb")
        );
        let forced = message(Some(json!({"em_force_notification": true})));
        assert!(matches!(decide(&forced, "A", &receiver(&bob, &night, false), &none(), hour(23)), Decision::Push(_)));
    }

    #[test]
    fn a_muted_conversation_is_silent_unless_it_mentions_you() {
        let bob = user("bob");
        let push = PushSettings::default();
        assert_eq!(decide(&message(None), "A", &receiver(&bob, &push, true), &none(), 0), Decision::Skip("muted"));
        let at = message(Some(json!({"em_at_list": ["bob"]})));
        assert!(matches!(decide(&at, "A", &receiver(&bob, &push, true), &none(), 0), Decision::Push(_)));
        let ignored = message(Some(json!({"em_ignore_notification": true})));
        assert_eq!(decide(&ignored, "A", &receiver(&bob, &push, false), &none(), 0), Decision::Skip("not_pushed"));
    }

    #[test]
    fn the_app_servers_words_and_force_win_last() {
        let bob = user("bob");
        let push = PushSettings::default();
        let forced = Overrides { push: Some(Value::String("from the hook".into())), force: true };
        let Decision::Push(notice) = decide(&message(None), "A", &receiver(&bob, &push, true), &forced, 0) else {
            panic!("force reaches a muted receiver")
        };
        assert_eq!(notice.body, "from the hook");
        let object = Overrides { push: Some(json!({"alert": {"title": "T", "body": "B"}, "k": "v"})), force: false };
        let Decision::Push(notice) = decide(&message(None), "A", &receiver(&bob, &push, false), &object, 0) else {
            panic!("pushed")
        };
        assert_eq!((notice.title.as_deref(), notice.body.as_str(), notice.data["k"].as_str()), (Some("T"), "B", "v"));
    }

    #[test]
    fn the_messages_own_push_fields_win() {
        let bob = user("bob");
        let push = PushSettings::default();
        let lc = message(Some(
            json!({"push_data": {"alert": {"title": "T", "body": "B"}, "badge": 9, "_profile": "dev", "deep": "link"}}),
        ));
        let Decision::Push(notice) = decide(&lc, "A", &receiver(&bob, &push, false), &none(), 0) else {
            panic!("pushed")
        };
        assert_eq!(
            (notice.title.as_deref(), notice.body.as_str(), notice.badge, notice.sandbox),
            (Some("T"), "B", Some(9), true)
        );
        assert_eq!(notice.data["deep"], "link");
        let em = message(Some(json!({"em_apns_ext": {"em_push_title": "Hi", "em_push_content": "there"}})));
        let Decision::Push(notice) = decide(&em, "A", &receiver(&bob, &push, false), &none(), 0) else {
            panic!("pushed")
        };
        assert_eq!((notice.title.as_deref(), notice.body.as_str()), (Some("Hi"), "there"));
    }
}
