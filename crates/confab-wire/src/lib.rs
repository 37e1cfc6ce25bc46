//! confab's own JSON shapes of a message and its parts.
//!
//! The core's [`Message`](confab_core::model::Message), [`Body`] and
//! [`MessageUpdate`](confab_core::events::MessageUpdate) carry no serde
//! derives: what is written to disk (the `body` and `original` columns, the
//! hourly history files) and what travels between nodes (the NATS bus) or to
//! devices (the JSON gateway's `body`) is one of the types here, mapped from
//! and to the core's. Renaming a core field is then a compile error here,
//! not a silent change of a format that yesterday's rows, an older node of
//! a rolling upgrade or a deployed client still speaks.
//!
//! Every shape is version 1 and pinned by golden tests (`tests/golden.rs`):
//! change one and those fail; a new shape is a new type beside the old.
//!
//! The body shape is, by design, Easemob's message body (`{"type":"txt",
//! "msg":…}`), the richest of the three clouds'; the Easemob dialect reads
//! and writes it with [`BodyV1`] too, and the golden tests pin it for both.

mod body;
mod message;

pub use body::{body_from_json, body_from_str, body_json, body_string, BodyV1};
pub use body::{CoordinateV1, SizeV1};
pub use message::{original_from_str, original_string, ChangeV1, ChatTypeV1, MessageV1, OriginalV1, StateV1, UpdateV1};

/// A wire value that does not map to a core value (an unknown chat type, a
/// user ID that is not one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}
