//! confab's limits for groups, rooms and threads: the strictest the clouds
//! document (Easemob's, mostly), so an app of any of them stays within what
//! it was promised. A dialect whose vendor allows less per call passes its
//! own (`add_members_up_to`, `ListRules`); how a dialect words a breach is
//! its own (these errors carry the core's neutral words).

/// Default and largest `maxusers` of a group.
pub const GROUP_DEFAULT_MAX_USERS: u32 = 200;
pub const GROUP_MAX_USERS: u32 = 100_000;
/// Default and largest `maxusers` of a chat room.
pub const ROOM_DEFAULT_MAX_USERS: u32 = 1_000;
pub const ROOM_MAX_USERS: u32 = 10_000;
/// Members named when a group or room is created (owner not counted).
pub const CREATE_MEMBERS: usize = 1_000;
/// Users added or removed per call.
pub const BATCH_USERS: usize = 60;
/// Admins of one group or room.
pub const ADMINS: usize = 99;
/// Entries of a block, allow or mute list per call.
pub const LIST_BATCH: usize = 60;
/// Entries a block, allow or mute list may hold.
pub const LIST_ENTRIES: usize = 500;
pub const NAME_CHARS: usize = 128;
pub const DESCRIPTION_CHARS: usize = 512;
pub const CUSTOM_CHARS: usize = 1024;
pub const ANNOUNCEMENT_CHARS: usize = 512;
pub const AVATAR_CHARS: usize = 1024;
/// Chat-room custom attributes.
pub const ROOM_ATTRIBUTES: usize = 100;
pub const ROOM_ATTRIBUTES_PER_CALL: usize = 10;
pub const ROOM_ATTRIBUTE_KEY_CHARS: usize = 128;
pub const ROOM_ATTRIBUTE_VALUE_CHARS: usize = 4096;
/// Groups or rooms one send call may name.
pub const SEND_GROUPS: usize = 3;
pub const SEND_ROOMS: usize = 10;
/// Threads: name length, users joined or removed per call, members.
pub const THREAD_NAME_CHARS: usize = 64;
pub const THREAD_BATCH_USERS: usize = 10;
pub const THREAD_MAX_USERS: u32 = 100_000;
