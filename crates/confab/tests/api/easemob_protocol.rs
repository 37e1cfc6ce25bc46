//! Easemob's msync protocol frame by frame (`/websocket`, `MSync`
//! envelopes), for what the SDK tests cannot show: refused logins, the
//! pull-and-acknowledge cycle, kicks, and broken frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use confab_server::easemob_proto::message_body::content::Type as ContentType;
use confab_server::easemob_proto::message_body::{Content, Type as BodyType};
use confab_server::easemob_proto::meta::NameSpace;
use confab_server::easemob_proto::msync::Command;
use confab_server::easemob_proto::{
    CommNotice, CommSyncDL, CommSyncUL, CommUnreadDL, Jid, MSync, MessageBody, Meta, Provision, StatisticsBody,
};

use crate::helpers::{spawn_app, TestApp};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp) -> Socket {
    let url = format!("ws://{}/websocket", app.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

pub(crate) async fn send(socket: &mut Socket, command: Command, payload: Vec<u8>) {
    let envelope = MSync { command: Some(command as i32), payload: Some(payload), ..Default::default() };
    socket.send(WsMessage::Binary(envelope.encode_to_vec().into())).await.unwrap();
}

/// The next envelope; `None` when the server closed the connection.
pub(crate) async fn next(socket: &mut Socket) -> Option<MSync> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame in time");
        match frame {
            Some(Ok(WsMessage::Binary(bytes))) => return Some(MSync::decode(bytes.as_ref()).unwrap()),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
}

fn jid(name: &str, domain: &str) -> Jid {
    Jid {
        app_key: Some("demo#chat".into()),
        name: Some(name.into()),
        domain: Some(domain.into()),
        client_resource: None,
    }
}

/// Logs `user` in with `token` as the SDK does; the server's PROVISION answer.
async fn provision(socket: &mut Socket, user: &str, token: &str) -> Provision {
    let provision = Provision { resource: Some(format!("webim_{user}")), ..Default::default() };
    let envelope = MSync {
        command: Some(Command::Provision as i32),
        guid: Some(jid(user, "easemob.com")),
        auth: Some(format!("$t${token}")),
        payload: Some(provision.encode_to_vec()),
        ..Default::default()
    };
    socket.send(WsMessage::Binary(envelope.encode_to_vec().into())).await.unwrap();
    let answer = next(socket).await.expect("a PROVISION answer");
    assert_eq!(answer.command, Some(Command::Provision as i32));
    Provision::decode(answer.payload.unwrap_or_default().as_slice()).unwrap()
}

pub(crate) async fn logged_in(app: &TestApp, user: &str) -> Socket {
    let token = app.user_token(user).await;
    let mut socket = connect(app).await;
    let answer = provision(&mut socket, user, &token).await;
    assert_eq!(answer.status.unwrap().error_code, Some(0));
    socket
}

pub(crate) fn sync_answer(envelope: MSync) -> CommSyncDL {
    assert_eq!(envelope.command, Some(Command::Sync as i32), "{envelope:?}");
    CommSyncDL::decode(envelope.payload.unwrap_or_default().as_slice()).unwrap()
}

/// The answer to `UNREAD`, past the notices that may come first.
async fn unread_answer(socket: &mut Socket) -> CommUnreadDL {
    loop {
        let envelope = next(socket).await.expect("an answer");
        if envelope.command == Some(Command::Unread as i32) {
            return CommUnreadDL::decode(envelope.payload.unwrap_or_default().as_slice()).unwrap();
        }
    }
}

pub(crate) fn text_upload(id: u64, to: &str, text: &str) -> Vec<u8> {
    let body = MessageBody {
        r#type: Some(BodyType::Chat as i32),
        contents: vec![Content {
            r#type: Some(ContentType::Text as i32),
            text: Some(text.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let meta = Meta {
        id: Some(id),
        to: Some(jid(to, "easemob.com")),
        ns: Some(NameSpace::Chat as i32),
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    };
    CommSyncUL { meta: Some(meta), ..Default::default() }.encode_to_vec()
}

/// A wrong token is UNAUTHORIZED (the SDK's "auth failed") and the
/// connection closes; a token of another user than the one named too.
#[tokio::test]
async fn logins_are_refused_in_the_sdks_terms() {
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut socket = connect(&app).await;
    let answer = provision(&mut socket, "ann", "not-a-token").await;
    assert_eq!(answer.status.unwrap().error_code, Some(2), "UNAUTHORIZED");
    assert!(next(&mut socket).await.is_none(), "closed");

    let bobs = app.user_token("bob").await;
    let mut socket = connect(&app).await;
    let answer = provision(&mut socket, "ann", &bobs).await;
    assert_eq!(answer.status.unwrap().error_code, Some(2));
}

/// An upload is acknowledged with its `metaId` and the server's ID; the
/// receiver is told of the queue, pulls it, and acknowledges with the
/// key: only then is the message delivered (a new login gets it again
/// until then, and never after).
#[tokio::test]
async fn messages_are_pulled_and_acknowledged_by_key() {
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut ann = logged_in(&app, "ann").await;
    let mut bob = logged_in(&app, "bob").await;

    send(&mut ann, Command::Sync, text_upload(530332089758, "bob", "hello")).await;
    let ack = sync_answer(next(&mut ann).await.unwrap());
    assert_eq!((ack.meta_id, ack.status.unwrap().error_code), (Some(530332089758), Some(0)));
    let server_id = ack.server_id.expect("the server's message ID");

    let notice = next(&mut bob).await.unwrap();
    assert_eq!(notice.command, Some(Command::Notice as i32));
    let queue = CommNotice::decode(notice.payload.unwrap().as_slice()).unwrap().queue.unwrap();
    assert_eq!(queue.name.as_deref(), Some("ann"));
    let pull = CommSyncUL { queue: Some(queue.clone()), ..Default::default() };
    send(&mut bob, Command::Sync, pull.encode_to_vec()).await;
    let batch = sync_answer(next(&mut bob).await.unwrap());
    assert_eq!((batch.metas.len(), batch.is_last), (1, Some(false)), "isLast only when empty");
    assert_eq!(batch.metas[0].id, Some(server_id));
    let body = MessageBody::decode(batch.metas[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(body.contents[0].text.as_deref(), Some("hello"));

    // Bob leaves before acknowledging: his next login gets it again.
    drop(bob);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut bob = logged_in(&app, "bob").await;
    send(&mut bob, Command::Unread, Vec::new()).await;
    let unread = unread_answer(&mut bob).await;
    assert_eq!(unread.unread.len(), 1, "{unread:?}");
    assert_eq!(unread.unread[0].n, Some(1));
    let pull = CommSyncUL { queue: Some(queue.clone()), ..Default::default() };
    send(&mut bob, Command::Sync, pull.encode_to_vec()).await;
    let mut batch;
    loop {
        batch = sync_answer(next(&mut bob).await.unwrap());
        if !batch.metas.is_empty() {
            break;
        }
    }
    let ack = CommSyncUL { queue: Some(queue.clone()), key: batch.next_key, ..Default::default() };
    send(&mut bob, Command::Sync, ack.encode_to_vec()).await;
    let last = sync_answer(next(&mut bob).await.unwrap());
    assert_eq!((last.metas.len(), last.is_last), (0, Some(true)));
    drop(bob);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut bob = logged_in(&app, "bob").await;
    send(&mut bob, Command::Unread, Vec::new()).await;
    let unread = unread_answer(&mut bob).await;
    assert!(unread.unread.is_empty(), "acknowledged means delivered: {unread:?}");
    let (status, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!((status, &count["data"]["bob"]), (StatusCode::OK, &json!(0)), "{count}");
}

/// The backend's disconnect: a STATISTIC meta pushed unasked, then the close.
#[tokio::test]
async fn a_kick_is_a_statistic_meta_then_the_close() {
    let app = spawn_app().await;
    app.register(&["ann"]).await;
    let mut ann = logged_in(&app, "ann").await;
    let (status, body) = app.get("/users/ann/disconnect").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let push = sync_answer(next(&mut ann).await.expect("the kick"));
    assert_eq!(push.meta_id, None);
    assert_eq!(push.metas[0].ns, Some(NameSpace::Statistic as i32));
    let kick = StatisticsBody::decode(push.metas[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(kick.operation, Some(4), "USER_KICKED_BY_OTHER_DEVICE");
    assert!(next(&mut ann).await.is_none(), "closed");
}

/// A broken frame gets the parser error and closes only its connection.
#[tokio::test]
async fn broken_frames_close_only_their_connection() {
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut ann = logged_in(&app, "ann").await;
    let mut bob = logged_in(&app, "bob").await;
    ann.send(WsMessage::Binary(vec![0xff, 0xff, 0xff].into())).await.unwrap();
    let answer = sync_answer(next(&mut ann).await.unwrap());
    assert_eq!(answer.status.unwrap().error_code, Some(10), "PB_PARSER_ERROR");
    assert!(next(&mut ann).await.is_none());
    let mut text = connect(&app).await;
    text.send(WsMessage::Text("hello".into())).await.unwrap();
    assert!(next(&mut text).await.is_some_and(|e| e.command == Some(Command::Sync as i32)));

    send(&mut bob, Command::Unread, Vec::new()).await;
    assert_eq!(next(&mut bob).await.unwrap().command, Some(Command::Unread as i32), "bob is untouched");
}

/// The web SDK in a browser calls the REST API from the app's page: the
/// preflight is answered (without reaching a handler) and answers carry
/// `Access-Control-Allow-Origin`, credentials never allowed.
#[tokio::test]
async fn the_browser_sdks_rest_calls_pass_cors() {
    let app = spawn_app().await;
    app.register(&["ann"]).await;
    let url = format!("http://{}/demo/chat/token", app.addr);
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers.get("access-control-allow-credentials").is_none());

    let grant = json!({"grant_type": "password", "username": "ann", "password": crate::helpers::PASSWORD});
    let answer = app.http.post(&url).header("Origin", "https://app.example.com").json(&grant).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
}

/// A message over the 3 KB an Easemob message may hold is refused in the
/// vendor's words, and nothing is stored; one at the limit's side is sent.
#[tokio::test]
async fn an_oversized_message_is_refused_in_the_vendors_words() {
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut ann = logged_in(&app, "ann").await;
    send(&mut ann, Command::Sync, text_upload(7, "bob", &"x".repeat(4000))).await;
    let refused = sync_answer(next(&mut ann).await.unwrap());
    let status = refused.status.unwrap();
    assert_eq!(
        (refused.meta_id, status.error_code, status.reason.as_deref()),
        (Some(7), Some(7), Some("Sorry, data is too large"))
    );
    assert_eq!(refused.server_id, None);
    send(&mut ann, Command::Sync, text_upload(8, "bob", &"x".repeat(2000))).await;
    let sent = sync_answer(next(&mut ann).await.unwrap());
    assert_eq!((sent.meta_id, sent.status.unwrap().error_code), (Some(8), Some(0)));
    let (_, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(count["data"]["bob"], 1, "only the one sent: {count}");
}
