//! The shapes of confab's stored and spoken JSON, pinned. A failure here
//! means a change would break rows already written, history files already
//! exported, an older node of a rolling upgrade or a deployed client: make
//! a new versioned type instead of changing these.

use serde_json::{json, Number, Value};

use confab_core::events::{MessageUpdate, UpdateKind};
use confab_core::ids::MessageId;
use confab_core::model::{
    AppId, Body, ChatType, ConversationId, Coordinate, ImageSize, Message, MessageState, Original, Username,
};
use confab_wire::{body_from_json, body_json, MessageV1, UpdateV1};

fn size(w: u64, h: u64) -> ImageSize {
    ImageSize { width: Number::from(w), height: Number::from(h) }
}

fn bodies() -> Vec<(Body, Value)> {
    vec![
        (Body::Text { msg: "hi".into() }, json!({"type": "txt", "msg": "hi"})),
        (
            Body::Image {
                filename: "a.png".into(),
                secret: Some("s".into()),
                size: size(480, 640),
                url: "http://f/1".into(),
                file_length: Some(9),
            },
            json!({"type": "img", "filename": "a.png", "secret": "s", "size": {"width": 480, "height": 640}, "url": "http://f/1", "file_length": 9}),
        ),
        (
            Body::Audio {
                filename: "a.amr".into(),
                secret: None,
                length: 3,
                url: "http://f/2".into(),
                file_length: None,
            },
            json!({"type": "audio", "filename": "a.amr", "length": 3, "url": "http://f/2"}),
        ),
        (
            Body::Video {
                thumb: "http://f/t".into(),
                length: 10,
                secret: None,
                file_length: 1000,
                thumb_secret: Some("ts".into()),
                url: "http://f/3".into(),
                filename: Some("v.mp4".into()),
                size: Some(size(1, 2)),
            },
            json!({"type": "video", "thumb": "http://f/t", "length": 10, "file_length": 1000, "thumb_secret": "ts",
                   "url": "http://f/3", "filename": "v.mp4", "size": {"width": 1, "height": 2}}),
        ),
        (
            Body::File { filename: "f.pdf".into(), secret: None, url: "http://f/4".into(), file_length: Some(5) },
            json!({"type": "file", "filename": "f.pdf", "url": "http://f/4", "file_length": 5}),
        ),
        (
            Body::Location {
                lat: Coordinate::Text("39.9".into()),
                lng: Coordinate::Number(Number::from(116)),
                addr: "Beijing".into(),
            },
            json!({"type": "loc", "lat": "39.9", "lng": 116, "addr": "Beijing"}),
        ),
        (Body::Command { action: "ping".into() }, json!({"type": "cmd", "action": "ping"})),
        (
            Body::Custom { custom_event: Some("gift".into()), custom_exts: json!({"n": "1"}).as_object().cloned() },
            json!({"type": "custom", "customEvent": "gift", "customExts": {"n": "1"}}),
        ),
        (Body::Custom { custom_event: None, custom_exts: None }, json!({"type": "custom"})),
    ]
}

#[test]
fn bodies_are_written_in_the_golden_shape_and_read_back() {
    for (body, golden) in bodies() {
        assert_eq!(body_json(&body), golden);
        assert_eq!(body_from_json(golden).unwrap(), body);
    }
}

#[test]
fn bodies_with_fields_they_do_not_have_are_refused() {
    let error = body_from_json(json!({"type": "txt", "msg": "hi", "extra": 1})).unwrap_err();
    assert!(error.to_string().contains("unknown field `extra`"), "{error}");
    assert!(body_from_json(json!({"type": "gif"})).is_err());
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn message() -> Message {
    Message {
        id: MessageId(1234567890123),
        app: AppId(1),
        conversation: ConversationId(7),
        seq: 3,
        chat_type: ChatType::GroupChat,
        from: user("Ann"),
        to: "g1".into(),
        body: Body::Text { msg: "hi".into() },
        ext: Some(json!({"k": "v"})),
        timestamp_ms: 1700000000000,
        sync_sender: true,
        origin_device: Some("web".into()),
        original: Some(Original::LeanCloud {
            data: "{\"_lctype\":-1}".into(),
            binary: false,
            mention_all: true,
            mentions: vec![user("bob")],
            valid_till: None,
        }),
        receivers: Some(vec![user("bob"), user("cat")]),
        state: MessageState::Recalled { by: user("Ann"), at_ms: 1700000000500 },
    }
}

fn message_golden() -> Value {
    json!({
        "id": "1234567890123", "app": 1, "conversation": 7, "seq": 3, "chat_type": "groupchat",
        "from": "Ann", "to": "g1", "body": {"type": "txt", "msg": "hi"}, "ext": {"k": "v"},
        "timestamp_ms": 1700000000000i64, "sync_sender": true, "origin_device": "web",
        "original": {"leancloud": {"data": "{\"_lctype\":-1}", "mention_all": true, "mentions": ["bob"]}},
        "receivers": ["bob", "cat"],
        "state": {"state": "recalled", "by": "Ann", "at_ms": 1700000000500i64}
    })
}

#[test]
fn messages_travel_in_the_golden_shape_and_read_back() {
    let encoded = serde_json::to_value(MessageV1::from(&message())).unwrap();
    assert_eq!(encoded, message_golden());
    let read: MessageV1 = serde_json::from_value(message_golden()).unwrap();
    assert_eq!(Message::try_from(read).unwrap(), message());
}

#[test]
fn a_plain_message_leaves_out_what_it_does_not_have() {
    let plain = Message {
        ext: None,
        origin_device: None,
        original: Some(Original::Wildfire { payload: json!({"type": 1}), line: 2 }),
        receivers: None,
        state: MessageState::Normal,
        chat_type: ChatType::Chat,
        ..message()
    };
    let encoded = serde_json::to_value(MessageV1::from(&plain)).unwrap();
    assert_eq!(
        encoded,
        json!({"id": "1234567890123", "app": 1, "conversation": 7, "seq": 3, "chat_type": "chat", "from": "Ann",
               "to": "g1", "body": {"type": "txt", "msg": "hi"}, "timestamp_ms": 1700000000000i64, "sync_sender": true,
               "original": {"wildfire": {"payload": {"type": 1}, "line": 2}}})
    );
    assert_eq!(Message::try_from(serde_json::from_value::<MessageV1>(encoded).unwrap()).unwrap(), plain);
}

#[test]
fn updates_travel_in_the_golden_shape_and_read_back() {
    let update = MessageUpdate {
        message: Message {
            state: MessageState::Edited { at_ms: 5, count: 2 },
            original: None,
            receivers: None,
            ..message()
        },
        change: UpdateKind::Edited,
        by: Some(user("Ann")),
        only: Some(vec![user("bob")]),
    };
    let encoded = serde_json::to_value(UpdateV1::from(&update)).unwrap();
    assert_eq!(encoded["change"], "edited");
    assert_eq!(encoded["by"], "Ann");
    assert_eq!(encoded["only"], json!(["bob"]));
    assert_eq!(encoded["message"]["state"], json!({"state": "edited", "at_ms": 5, "count": 2}));
    assert_eq!(MessageUpdate::try_from(serde_json::from_value::<UpdateV1>(encoded.clone()).unwrap()).unwrap(), update);

    // A record from before edits were counted reads as edited once.
    let mut older = encoded;
    older["message"]["state"] = json!({"state": "edited", "at_ms": 5});
    let read = MessageUpdate::try_from(serde_json::from_value::<UpdateV1>(older).unwrap()).unwrap();
    assert_eq!(read.message.state, MessageState::Edited { at_ms: 5, count: 1 });
}

#[test]
fn wire_values_that_are_not_core_values_are_refused() {
    let mut bad = message_golden();
    bad["from"] = json!("");
    assert!(Message::try_from(serde_json::from_value::<MessageV1>(bad).unwrap()).is_err());
    let mut bad = message_golden();
    bad["id"] = json!("x");
    assert!(Message::try_from(serde_json::from_value::<MessageV1>(bad).unwrap()).is_err());
    let mut bad = message_golden();
    bad["chat_type"] = json!("party");
    assert!(serde_json::from_value::<MessageV1>(bad).is_err());
}
