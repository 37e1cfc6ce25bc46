//! The rules of groups as pure functions, which the service and the storage
//! engines (under their locks) apply, and their tests.

use super::*;

/// Users a group change refused, with the reason.
pub type RefusedUsers = Vec<(Username, Refusal)>;

/// The rules of a join, for the storage engines to apply under the group's
/// lock, given which of the named users are members already and which are
/// on the block list: who is added (each once) and who is refused. Fails as
/// a whole, changing nothing, when the group would pass `max_users`.
pub fn members_to_add(
    group: &Group,
    users: Vec<Username>,
    members: &HashSet<String>,
    blocked: &HashSet<String>,
    max_users: u32,
) -> Result<(Vec<Username>, RefusedUsers)> {
    let mut adding: Vec<Username> = Vec::new();
    let mut refused = Vec::new();
    for user in users {
        if adding.contains(&user) || members.contains(user.as_str()) {
            refused.push((user.clone(), Refusal::AlreadyMember));
        } else if blocked.contains(user.as_str()) {
            refused.push((user.clone(), Refusal::Blocked));
        } else {
            adding.push(user);
        }
    }
    if group.member_count + adding.len() as u64 > max_users as u64 {
        return Err(Refused::new(Refusal::Full).at(&group.id).into());
    }
    Ok((adding, refused))
}

pub use crate::error::RefusedKeys;

/// The rules of setting room attributes, for the storage engines to apply
/// under the room's lock: given who holds which key now (`holders`, key →
/// owner) and how many keys the room has, the attributes to write (one per
/// key, the last accepted one) and the refused keys. A key another user set
/// is refused unless `force`; new keys beyond `max_keys` are refused.
pub fn attributes_to_set(
    holders: &HashMap<String, String>,
    mut count: usize,
    attributes: Vec<RoomAttribute>,
    force: bool,
    max_keys: usize,
) -> (Vec<RoomAttribute>, RefusedKeys) {
    let mut holders = holders.clone();
    let mut refused = Vec::new();
    let mut writing: Vec<RoomAttribute> = Vec::new();
    for attribute in attributes {
        match holders.get(&attribute.key) {
            Some(owner) if owner != attribute.owner.as_str() && !force => {
                refused.push((attribute.key, KeyRefusal::HeldByOther));
                continue;
            }
            None if count >= max_keys => {
                refused.push((attribute.key, KeyRefusal::RoomFull { max: max_keys }));
                continue;
            }
            None => count += 1,
            Some(_) => {}
        }
        holders.insert(attribute.key.clone(), attribute.owner.as_str().to_owned());
        match writing.iter_mut().find(|w| w.key == attribute.key) {
            Some(earlier) => *earlier = attribute,
            None => writing.push(attribute),
        }
    }
    (writing, refused)
}

/// The rules of removing room attributes as `owner`: the keys to delete and
/// the refused ones (missing, or another user's without `force`).
pub fn attributes_to_remove(
    holders: &HashMap<String, String>,
    owner: &Username,
    keys: Vec<String>,
    force: bool,
) -> (Vec<String>, RefusedKeys) {
    let mut removing: Vec<String> = Vec::new();
    let mut refused = Vec::new();
    for key in keys {
        // A key named twice is gone by its second mention.
        match holders.get(&key).filter(|_| !removing.contains(&key)) {
            None => refused.push((key, KeyRefusal::Missing)),
            Some(holder) if holder != owner.as_str() && !force => refused.push((key, KeyRefusal::HeldByOther)),
            Some(_) => removing.push(key),
        }
    }
    (removing, refused)
}

pub(super) fn event(group: &Group, kind: GroupEventKind, users: Vec<Username>, now: i64) -> GroupEvent {
    GroupEvent {
        kind: group.kind,
        group: group.id.clone(),
        conversation: group.conversation,
        event: kind,
        users,
        timestamp_ms: now,
    }
}

/// The vendor's words for a group, room or thread that does not exist.
pub(super) fn not_found(target: GroupRef<'_>) -> Error {
    match target.kind {
        ChatType::Thread => Error::NotFound("thread not found.".into()),
        _ => Error::NotFound(format!("grpID {} does not exist!", target.id)),
    }
}

/// Whether `from` may speak in the group now.
pub(super) fn check_sender(state: &GroupState, from: &Username, now: i64) -> Result<()> {
    let id = &state.group.id;
    let Some(role) = state.roles.get(from) else {
        return Err(Refused::of(Refusal::NotMember, from).at(id).into());
    };
    if state.muted_until.get(from).is_some_and(|until| *until > now) {
        return Err(Refused::of(Refusal::Muted, from).at(id).into());
    }
    if state.group.mute_all && *role == Role::Member && !state.allowed.contains(from) {
        return Err(Refused::new(Refusal::AllMuted).at(id).into());
    }
    if state.group.kind == ChatType::Channel && *role == Role::Member {
        return Err(Refused::new(Refusal::OwnerSpeaksOnly).at(id).into());
    }
    Ok(())
}

/// Keeps the owner out of a batch that must not touch them.
pub(super) fn split_owner(group: &Group, users: Vec<Username>) -> (Vec<Username>, RefusedUsers) {
    let (owner, rest): (Vec<Username>, Vec<Username>) = users.into_iter().partition(|u| *u == group.owner);
    let refused = owner.into_iter().map(|u| (u.clone(), Refusal::IsOwner)).collect();
    (rest, refused)
}

/// Users one call may add or remove.
pub(super) fn batch_cap(kind: ChatType) -> usize {
    if kind == ChatType::Thread {
        limits::THREAD_BATCH_USERS
    } else {
        limits::BATCH_USERS
    }
}

pub(super) fn check_batch(what: &str, len: usize, cap: usize) -> Result<()> {
    if len == 0 {
        return Err(Error::InvalidArgument(format!("{what} can't be empty")));
    }
    if len > cap {
        return Err(Error::InvalidArgument(format!("{what} size must be at most {cap}, got {len}")));
    }
    Ok(())
}

pub(super) fn check_name(name: &str, cap: usize) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::InvalidArgument("name can't be empty".into()));
    }
    if name.chars().count() > cap {
        return Err(Error::InvalidArgument(format!("name must be at most {cap} characters")));
    }
    Ok(())
}

/// The rules every group's settings keep: lengths, and a member cap within
/// the kind's range and not below the `members` it has.
pub fn validate_settings(kind: ChatType, s: &GroupSettings, members: u64) -> Result<()> {
    // A group may go unnamed (LeanCloud's and WildfireChat's may); a dialect
    // that requires a name says so itself.
    if s.name.chars().count() > limits::NAME_CHARS {
        return Err(Error::InvalidArgument(format!("name must be at most {} characters", limits::NAME_CHARS)));
    }
    let texts = [
        ("description", &s.description, limits::DESCRIPTION_CHARS),
        ("custom", &s.custom, limits::CUSTOM_CHARS),
        ("announcement", &s.announcement, limits::ANNOUNCEMENT_CHARS),
        ("avatar", &s.avatar, limits::AVATAR_CHARS),
    ];
    for (what, text, cap) in texts {
        if text.chars().count() > cap {
            return Err(Error::InvalidArgument(format!("{what} must be at most {cap} characters")));
        }
    }
    let cap = if kind == ChatType::ChatRoom { limits::ROOM_MAX_USERS } else { limits::GROUP_MAX_USERS };
    if s.max_users < 1 || s.max_users > cap {
        return Err(Error::InvalidArgument(format!("maxusers must be between 1 and {cap}")));
    }
    if (s.max_users as u64) < members {
        return Err(Error::InvalidArgument(format!("maxusers {} is less than the {members} members", s.max_users)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(mute_all: bool) -> GroupState {
        let user = |n: &str| Username::parse(n).unwrap();
        let group = Group {
            id: "1".into(),
            kind: ChatType::GroupChat,
            conversation: ConversationId(1),
            owner: user("o"),
            settings: GroupSettings { public: true, ..GroupSettings::named("g".into(), 10) },
            mute_all,
            parent: None,
            parent_message: None,
            created_ms: 0,
            member_count: 4,
            version: 1,
        };
        GroupState {
            group,
            roles: HashMap::from([
                (user("o"), Role::Owner),
                (user("a"), Role::Admin),
                (user("m"), Role::Member),
                (user("w"), Role::Member),
            ]),
            recipients: Arc::from(vec![]),
            muted_until: HashMap::from([(user("m"), 100)]),
            allowed: HashSet::from([user("w")]),
        }
    }

    #[test]
    fn attribute_rules() {
        let user = |n: &str| Username::parse(n).unwrap();
        let attribute = |key: &str, owner: &str| RoomAttribute {
            key: key.into(),
            value: "v".into(),
            owner: user(owner),
            auto_delete: true,
        };
        let holders = HashMap::from([("mine".to_owned(), "a".to_owned()), ("theirs".to_owned(), "b".to_owned())]);
        let asked =
            vec![attribute("mine", "a"), attribute("theirs", "a"), attribute("new1", "a"), attribute("new2", "a")];
        let (writing, refused) = attributes_to_set(&holders, 2, asked.clone(), false, 3);
        assert_eq!(writing.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["mine", "new1"]);
        assert_eq!(refused.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["theirs", "new2"]);
        let (writing, _) = attributes_to_set(&holders, 2, asked, true, 4);
        assert_eq!(writing.len(), 4, "forced, and room for both new keys");

        let keys = vec!["mine".to_owned(), "theirs".to_owned(), "mine".to_owned(), "none".to_owned()];
        let (removing, refused) = attributes_to_remove(&holders, &user("a"), keys.clone(), false);
        assert_eq!(removing, ["mine"]);
        assert_eq!(refused.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["theirs", "mine", "none"]);
        let (removing, _) = attributes_to_remove(&holders, &user("a"), keys, true);
        assert_eq!(removing, ["mine", "theirs"]);
    }

    #[test]
    fn sender_rules() {
        let user = |n: &str| Username::parse(n).unwrap();
        let open = state(false);
        assert!(check_sender(&open, &user("m"), 50).is_err(), "muted until 100");
        assert!(check_sender(&open, &user("m"), 100).is_ok(), "mute lapsed");
        assert!(check_sender(&open, &user("x"), 0).is_err(), "not a member");
        let muted = state(true);
        assert!(check_sender(&muted, &user("m"), 200).is_err());
        assert!(check_sender(&muted, &user("w"), 0).is_ok(), "allow-listed");
        assert!(check_sender(&muted, &user("a"), 0).is_ok(), "admins speak");
        assert!(check_sender(&muted, &user("o"), 0).is_ok(), "the owner speaks");
    }
}
