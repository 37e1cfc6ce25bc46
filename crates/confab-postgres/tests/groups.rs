//! Groups against a real PostgreSQL (CONFAB_TEST_DATABASE_URL, by default
//! the local server). Each run works in a schema of its own and drops it,
//! so runs never see each other's rows.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use confab_core::error::{Error, KeyRefusal, Refusal, Refused};
use confab_core::ids::MessageId;
use confab_core::model::{
    AppId, Body, ChatType, ConversationId, GroupList, GroupSettings, NewGroup, NewMessage, Role, RoomAttribute,
    SettingsPatch, Username,
};
use confab_core::storage::{AppData, GroupChange, GroupData, MessageData, NewApp};
use confab_postgres::PostgresStore;
use tokio_postgres::NoTls;

fn base_url() -> String {
    std::env::var("CONFAB_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/postgres".into())
}

/// Runs `test` against a store in a fresh schema, then drops the schema,
/// whether the test passed or not. The test runs as a task of its own so a
/// panic comes back here, and cleanup runs while the runtime still drives the
/// store's connections: a transaction the test left open is rolled back by
/// them, instead of holding the locks that `DROP SCHEMA` waits for.
async fn with_store<F, Fut>(test: F)
where
    F: FnOnce(PostgresStore, AppId) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("t_groups_{}_{nanos}", std::process::id());
    admin().await.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let base = base_url();
    let glue = if base.contains('?') { '&' } else { '?' };
    let outcome = match PostgresStore::connect(&format!("{base}{glue}options=-c%20search_path%3D{schema}")).await {
        Ok(store) => match new_app(&store).await {
            Ok(app) => tokio::spawn(test(store, app)).await.map_err(|e| e.into_panic()),
            Err(e) => Err(Box::new(format!("creating the app failed: {e}")) as Box<dyn std::any::Any + Send>),
        },
        Err(e) => Err(Box::new(format!("connecting failed: {e}")) as Box<dyn std::any::Any + Send>),
    };
    admin().await.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&base_url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn users(names: &[&str]) -> Vec<Username> {
    names.iter().map(|n| user(n)).collect()
}

/// Settings built from JSON, so settings the model gains with defaults need
/// no change here.
fn settings(max_users: u32) -> GroupSettings {
    serde_json::from_value(serde_json::json!({ "name": "g", "public": true, "max_users": max_users })).unwrap()
}

fn new_group(id: &str, kind: ChatType, owner: &str, members: &[&str], max_users: u32) -> NewGroup {
    NewGroup {
        id: id.into(),
        kind,
        owner: user(owner),
        settings: settings(max_users),
        parent: None,
        parent_message: None,
        members: users(members),
        created_ms: 1_000,
    }
}

fn message(id: u64, kind: ChatType, group: &str, from: &str) -> NewMessage {
    NewMessage {
        id: MessageId(id),
        chat_type: kind,
        conversation_key: group.into(),
        members: Vec::new(),
        from: user(from),
        to: group.into(),
        body: Body::Text { msg: "hi".into() },
        ext: None,
        timestamp_ms: 2_000,
        sync_sender: false,
        origin_device: None,
        original: None,
        audience: Default::default(),
    }
}

async fn new_app(store: &PostgresStore) -> confab_core::error::Result<AppId> {
    let app = store
        .create_app(NewApp {
            uuid: "u-1".into(),
            org: "org".into(),
            name: "app".into(),
            client_id: "cid".into(),
            client_secret: "secret".into(),
            signing_key: vec![1; 32],
            created_ms: 1,
            credentials: Default::default(),
        })
        .await?;
    Ok(app.id)
}

/// Who was refused, with the core's wording of why.
fn refused_names(refused: &[(Username, Refusal)]) -> Vec<(&str, &str)> {
    let words = |u: &Username, r: &Refusal| &*Box::leak(Refused::of(*r, u).to_string().into_boxed_str());
    refused.iter().map(|(u, r)| (u.as_str(), words(u, r))).collect()
}

fn names(list: &[Username]) -> Vec<&str> {
    list.iter().map(Username::as_str).collect()
}

#[tokio::test]
async fn groups_lifecycle() {
    with_store(|store, app| async move {
        let group = store.create_group(app, new_group("100", ChatType::GroupChat, "alice", &["bob"], 4)).await.unwrap();
        assert_eq!((group.version, group.member_count, group.owner.as_str()), (1, 2, "alice"));
        let conv = group.conversation;
        match store.create_group(app, new_group("100", ChatType::GroupChat, "zed", &[], 4)).await {
            Err(Error::Duplicate(m)) => assert_eq!(m, "group ID 100 already exists!"),
            other => panic!("expected a duplicate, got {other:?}"),
        }
        assert_eq!(store.group(app, ChatType::GroupChat, "100").await.unwrap(), Some(group.clone()));
        assert_eq!(store.group(app, ChatType::ChatRoom, "100").await.unwrap(), None);

        // New members start at the conversation's end.
        store.append(app, vec![message(1, ChatType::GroupChat, "100", "alice")]).await.unwrap();
        let changed = store
            .change_group(
                app,
                conv,
                GroupChange::AddMembers {
                    users: users(&["carol", "bob", "carol"]),
                    role: Role::Member,
                    max_users: 4,
                    now_ms: 5,
                },
            )
            .await
            .unwrap();
        assert_eq!(names(&changed.changed), ["carol"]);
        assert_eq!(
            refused_names(&changed.refused),
            [("bob", "user bob is already a member"), ("carol", "user carol is already a member")]
        );
        assert_eq!((changed.group.version, changed.group.member_count), (2, 3));
        let carol = store.membership(app, &user("carol"), conv).await.unwrap().unwrap();
        assert_eq!((carol.joined_seq, carol.ack_seq, carol.read_seq, carol.chat_type), (1, 1, 1, ChatType::GroupChat));
        assert_eq!(store.unacknowledged_count(app, &user("bob")).await.unwrap(), 1);
        assert_eq!(store.unacknowledged_count(app, &user("carol")).await.unwrap(), 0);

        // Over the cap nothing changes, not even the version.
        match store
            .change_group(
                app,
                conv,
                GroupChange::AddMembers {
                    users: users(&["dave", "erin"]),
                    role: Role::Member,
                    max_users: 4,
                    now_ms: 6,
                },
            )
            .await
        {
            Err(Error::Refused(r)) => assert_eq!(r.why, Refusal::Full),
            other => panic!("expected the cap, got {other:?}"),
        }
        assert_eq!(store.group(app, ChatType::GroupChat, "100").await.unwrap().unwrap().version, 2);

        let changed = store
            .change_group(
                app,
                conv,
                GroupChange::SetRole { users: users(&["carol", "alice", "zed"]), role: Role::Admin },
            )
            .await
            .unwrap();
        assert_eq!(names(&changed.changed), ["carol"]);
        assert_eq!(
            refused_names(&changed.refused),
            [("alice", "user alice is not a member"), ("zed", "user zed is not a member")]
        );
        let members = store.members(app, conv).await.unwrap();
        let order: Vec<_> = members.iter().map(|m| (m.username.as_str(), m.role, m.joined_ms)).collect();
        assert_eq!(order, [("alice", Role::Owner, 1_000), ("carol", Role::Admin, 5), ("bob", Role::Member, 1_000)]);

        match store.change_group(app, conv, GroupChange::TransferOwner { to: user("zed") }).await {
            // The engine says why, who and where; the dialects word it.
            Err(Error::Refused(r)) => {
                assert_eq!(
                    (r.why, r.user.as_deref(), r.place.as_deref()),
                    (Refusal::NotMember, Some("zed"), Some("100"))
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let changed = store.change_group(app, conv, GroupChange::TransferOwner { to: user("bob") }).await.unwrap();
        assert_eq!(changed.group.owner.as_str(), "bob");
        let roles: Vec<_> = store.members(app, conv).await.unwrap().into_iter().map(|m| (m.username, m.role)).collect();
        assert_eq!(roles, [(user("bob"), Role::Owner), (user("carol"), Role::Admin), (user("alice"), Role::Member)]);

        let patch = SettingsPatch { max_users: Some(10), ..SettingsPatch::default() };
        let changed = store.change_group(app, conv, GroupChange::Settings(patch)).await.unwrap();
        assert_eq!(changed.group.settings.max_users, 10);
        assert_eq!(changed.group.settings.name, "g", "settings the patch leaves out stay");
        // Checked under the lock against the members of that moment.
        let patch = SettingsPatch { max_users: Some(1), ..SettingsPatch::default() };
        let refused = store.change_group(app, conv, GroupChange::Settings(patch)).await.unwrap_err();
        assert!(matches!(refused, Error::InvalidArgument(_)), "{refused:?}");
        assert!(store.change_group(app, conv, GroupChange::MuteAll(true)).await.unwrap().group.mute_all);

        // Leaving takes the allow entry and auto-deleted attributes, not the mute.
        for list in [GroupList::Allow, GroupList::Mute] {
            let add = GroupChange::AddToList { list, users: users(&["alice", "alice"]), until_ms: 9_000, now_ms: 7 };
            assert_eq!(names(&store.change_group(app, conv, add).await.unwrap().changed), ["alice", "alice"]);
        }
        let attributes = vec![
            RoomAttribute { key: "a".into(), value: "1".into(), owner: user("alice"), auto_delete: true },
            RoomAttribute { key: "b".into(), value: "2".into(), owner: user("alice"), auto_delete: false },
        ];
        assert!(store.set_room_attributes(app, conv, attributes, false, 10).await.unwrap().is_empty());
        let changed = store
            .change_group(app, conv, GroupChange::RemoveMembers { users: users(&["alice", "alice", "zed"]) })
            .await
            .unwrap();
        assert_eq!(names(&changed.changed), ["alice"]);
        assert_eq!(
            refused_names(&changed.refused),
            [("alice", "user alice is not a member"), ("zed", "user zed is not a member")]
        );
        assert_eq!(changed.group.member_count, 2);
        assert!(store.list_entries(app, conv, GroupList::Allow).await.unwrap().is_empty());
        let mutes = store.list_entries(app, conv, GroupList::Mute).await.unwrap();
        assert_eq!(mutes.len(), 1);
        assert_eq!((mutes[0].username.as_str(), mutes[0].until_ms, mutes[0].created_ms), ("alice", 9_000, 7));
        let keys: Vec<_> = store.room_attributes(app, conv).await.unwrap().into_iter().map(|a| a.key).collect();
        assert_eq!(keys, ["b"]);

        // A refreshed entry keeps its creation time.
        let refresh =
            GroupChange::AddToList { list: GroupList::Mute, users: users(&["alice"]), until_ms: 9_500, now_ms: 8 };
        store.change_group(app, conv, refresh).await.unwrap();
        let mutes = store.list_entries(app, conv, GroupList::Mute).await.unwrap();
        assert_eq!((mutes[0].until_ms, mutes[0].created_ms), (9_500, 7));

        // Blocking removes a member, and the blocked cannot come back.
        let block =
            GroupChange::AddToList { list: GroupList::Block, users: users(&["carol", "dave"]), until_ms: 0, now_ms: 9 };
        let changed = store.change_group(app, conv, block).await.unwrap();
        assert_eq!((names(&changed.changed), changed.group.member_count), (vec!["carol", "dave"], 1));
        let changed = store
            .change_group(
                app,
                conv,
                GroupChange::AddMembers {
                    users: users(&["dave", "erin"]),
                    role: Role::Member,
                    max_users: 10,
                    now_ms: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(names(&changed.changed), ["erin"]);
        assert_eq!(refused_names(&changed.refused), [("dave", "user dave is blocked")]);
        let unblock = GroupChange::RemoveFromList { list: GroupList::Block, users: users(&["dave", "dave", "zed"]) };
        let changed = store.change_group(app, conv, unblock).await.unwrap();
        assert_eq!(names(&changed.changed), ["dave"]);
        assert_eq!(
            refused_names(&changed.refused),
            [("dave", "user dave is not on the list"), ("zed", "user zed is not on the list")]
        );

        let groups = store.groups_of(app, ChatType::GroupChat, &user("erin")).await.unwrap();
        assert_eq!(groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["100"]);

        let deleted = store.delete_group(app, conv).await.unwrap().unwrap();
        assert_eq!(deleted.id, "100");
        assert_eq!(store.delete_group(app, conv).await.unwrap(), None);
        assert!(store.members(app, conv).await.unwrap().is_empty());
        assert!(store.list_entries(app, conv, GroupList::Mute).await.unwrap().is_empty());
        assert!(store.room_attributes(app, conv).await.unwrap().is_empty());
        assert!(matches!(store.change_group(app, conv, GroupChange::MuteAll(false)).await, Err(Error::NotFound(_))));
        // The history stays with its conversation; the ID may name a new
        // group, which is a new, empty conversation.
        assert_eq!(store.messages_between(app, conv, 0, 10, 10).await.unwrap().len(), 1);
        let again = store.create_group(app, new_group("100", ChatType::GroupChat, "alice", &[], 4)).await.unwrap();
        assert_ne!(again.conversation, conv);
        assert!(store.messages_between(app, again.conversation, 0, 10, 10).await.unwrap().is_empty());
        assert_eq!(store.messages_between(app, conv, 0, 10, 10).await.unwrap().len(), 1);
        assert!(matches!(
            store.create_group(app, new_group("100", ChatType::GroupChat, "alice", &[], 4)).await,
            Err(Error::Duplicate(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn rooms_threads_and_listing() {
    with_store(|store, app| async move {
        let room = store.create_group(app, new_group("200", ChatType::ChatRoom, "alice", &["bob"], 100)).await.unwrap();
        let conv = room.conversation;
        store.append(app, vec![message(1, ChatType::ChatRoom, "200", "alice")]).await.unwrap();
        // Chat rooms keep no backlog, so nothing waits for bob there.
        assert_eq!(store.unacknowledged_count(app, &user("bob")).await.unwrap(), 0);
        let bob = store.membership(app, &user("bob"), conv).await.unwrap().unwrap();
        assert_eq!((bob.chat_type, bob.last_seq, bob.joined_seq), (ChatType::ChatRoom, 1, 0));

        let attribute = |key: &str, value: &str, owner: &str| RoomAttribute {
            key: key.into(),
            value: value.into(),
            owner: user(owner),
            auto_delete: false,
        };
        let refused = store
            .set_room_attributes(
                app,
                conv,
                vec![attribute("k1", "1", "alice"), attribute("k2", "2", "alice"), attribute("k1", "1b", "alice")],
                false,
                2,
            )
            .await
            .unwrap();
        assert!(refused.is_empty());
        let refused = store
            .set_room_attributes(app, conv, vec![attribute("k1", "x", "bob"), attribute("k3", "3", "bob")], false, 2)
            .await
            .unwrap();
        assert_eq!(
            refused,
            [("k1".to_string(), KeyRefusal::HeldByOther), ("k3".to_string(), KeyRefusal::RoomFull { max: 2 })]
        );
        assert!(store
            .set_room_attributes(app, conv, vec![attribute("k1", "y", "bob")], true, 2)
            .await
            .unwrap()
            .is_empty());
        let stored = store.room_attributes(app, conv).await.unwrap();
        assert_eq!(stored, [attribute("k1", "y", "bob"), attribute("k2", "2", "alice")]);
        let refused = store
            .remove_room_attributes(
                app,
                conv,
                &user("alice"),
                vec!["k1".into(), "k2".into(), "k2".into(), "k9".into()],
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            refused,
            [
                ("k1".to_string(), KeyRefusal::HeldByOther),
                ("k2".to_string(), KeyRefusal::Missing),
                ("k9".to_string(), KeyRefusal::Missing)
            ]
        );
        assert!(store
            .remove_room_attributes(app, conv, &user("alice"), vec!["k1".into()], true)
            .await
            .unwrap()
            .is_empty());
        assert!(store.room_attributes(app, conv).await.unwrap().is_empty());

        // Threads hang off a group and are listed in creation order.
        let group = store.create_group(app, new_group("300", ChatType::GroupChat, "alice", &[], 10)).await.unwrap();
        for id in ["301", "302"] {
            let mut thread = new_group(id, ChatType::Thread, "alice", &[], 10);
            thread.parent = Some(group.id.clone());
            thread.parent_message = Some(MessageId(42));
            store.create_group(app, thread).await.unwrap();
        }
        let threads = store.threads_of(app, "300").await.unwrap();
        assert_eq!(threads.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["301", "302"]);
        assert_eq!(threads[0].parent_message, Some(MessageId(42)));
        assert!(store.threads_of(app, "200").await.unwrap().is_empty());

        for id in ["400", "401", "402"] {
            store.create_group(app, new_group(id, ChatType::GroupChat, "bob", &[], 10)).await.unwrap();
        }
        let first = store.list_groups(app, ChatType::GroupChat, None, 2, false).await.unwrap();
        assert_eq!(first.items.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["300", "400"]);
        let rest = store.list_groups(app, ChatType::GroupChat, first.next, 2, false).await.unwrap();
        assert_eq!(rest.items.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["401", "402"]);
        assert_eq!(rest.next, None);
        let of_bob = store.groups_of(app, ChatType::GroupChat, &user("bob")).await.unwrap();
        assert_eq!(of_bob.len(), 3);
        assert_eq!(store.groups_of(app, ChatType::ChatRoom, &user("bob")).await.unwrap()[0].id, "200");
    })
    .await;
}

/// Concurrent joins take turns on the group's row, so the cap holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joins_respect_the_cap() {
    with_store(|store, app| async move {
        let store = Arc::new(store);
        let group = store.create_group(app, new_group("500", ChatType::GroupChat, "alice", &[], 5)).await.unwrap();
        let conv: ConversationId = group.conversation;
        let joins: Vec<_> = (0..12)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let change = GroupChange::AddMembers {
                        users: vec![user(&format!("u{n}"))],
                        role: Role::Member,
                        max_users: 5,
                        now_ms: n,
                    };
                    store.change_group(app, conv, change).await
                })
            })
            .collect();
        let mut joined = 0;
        for join in joins {
            match join.await.unwrap() {
                Ok(changed) => joined += changed.changed.len(),
                Err(Error::Refused(r)) if r.why == Refusal::Full => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(joined, 4);
        let group = store.group(app, ChatType::GroupChat, "500").await.unwrap().unwrap();
        assert_eq!((group.member_count, group.version), (5, 5));
        assert_eq!(store.members(app, conv).await.unwrap().len(), 5);
    })
    .await;
}
