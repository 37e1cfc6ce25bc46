//! 64-bit, time-ordered message IDs.
//!
//! Layout (most significant first): 41 bits of milliseconds since
//! 2020-01-01T00:00:00Z, 10 bits of node ID, 12 bits of sequence within the
//! millisecond. IDs from one node never repeat, even across restarts, because
//! the generator starts above the highest ID already stored; nodes of a
//! cluster differ in their node bits.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Mutex;

/// 2020-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: i64 = 1_577_836_800_000;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;
const MAX_SEQ: u64 = (1 << SEQ_BITS) - 1;
pub const MAX_NODE_ID: u16 = (1 << NODE_BITS) - 1;

/// A message ID. On the wire it travels as a decimal string, because
/// JavaScript clients cannot hold 64-bit integers exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

impl MessageId {
    pub fn parse(raw: &str) -> Option<MessageId> {
        raw.parse().ok().map(MessageId)
    }

    /// The node that issued the ID.
    pub fn node(self) -> u16 {
        ((self.0 >> SEQ_BITS) & MAX_NODE_ID as u64) as u16
    }

    /// The smallest ID any node could make at `ms` (Unix milliseconds).
    pub fn first_at(ms: i64) -> MessageId {
        MessageId(((ms - EPOCH_MS).max(0) as u64) << (NODE_BITS + SEQ_BITS))
    }

    /// The largest ID any node could make at `ms`.
    pub fn last_at(ms: i64) -> MessageId {
        let elapsed = ((ms - EPOCH_MS).max(0) as u64).min((1 << (63 - NODE_BITS - SEQ_BITS)) - 1);
        MessageId((elapsed << (NODE_BITS + SEQ_BITS)) | ((1 << (NODE_BITS + SEQ_BITS)) - 1))
    }

    /// The Unix time in milliseconds at which the ID was made.
    pub fn timestamp_ms(self) -> i64 {
        (self.0 >> (NODE_BITS + SEQ_BITS)) as i64 + EPOCH_MS
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        MessageId::parse(&raw).ok_or_else(|| serde::de::Error::custom("message id must be a decimal u64"))
    }
}

/// Hands out [`MessageId`]s for one node.
pub struct IdGenerator {
    node: u64,
    /// (millisecond, next sequence) of the last ID handed out.
    state: Mutex<(i64, u64)>,
}

impl IdGenerator {
    /// `floor` is the highest ID already stored: the generator never issues
    /// one at or below it, so a clock that went back across a restart cannot
    /// produce duplicates.
    pub fn new(node: u16, floor: Option<MessageId>) -> IdGenerator {
        assert!(node <= MAX_NODE_ID, "node id out of range");
        let start = match floor {
            Some(id) => (id.timestamp_ms(), MAX_SEQ + 1),
            None => (0, 0),
        };
        IdGenerator { node: node as u64, state: Mutex::new(start) }
    }

    pub fn next(&self, now_ms: i64) -> MessageId {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last_ms, next_seq) = *state;
        // Never go backwards: a clock step back reuses the last millisecond.
        let (ms, seq) = if now_ms > last_ms {
            (now_ms, 0)
        } else if next_seq <= MAX_SEQ {
            (last_ms, next_seq)
        } else {
            // This millisecond is used up; borrow the next one.
            (last_ms + 1, 0)
        };
        *state = (ms, seq + 1);
        let elapsed = (ms - EPOCH_MS).max(0) as u64;
        MessageId((elapsed << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_within_a_millisecond_and_across_clock_steps_back() {
        let g = IdGenerator::new(3, None);
        let now = 1_700_000_000_000;
        let mut last = g.next(now);
        for i in 0..10_000 {
            let t = if i % 7 == 0 { now - 5 } else { now };
            let id = g.next(t);
            assert!(id > last);
            last = id;
        }
        assert_eq!(g.next(now + 100).timestamp_ms(), now + 100);
    }

    #[test]
    fn a_restarted_generator_starts_above_the_floor() {
        let g = IdGenerator::new(0, None);
        let stored = g.next(1_700_000_000_000);
        let restarted = IdGenerator::new(0, Some(stored));
        assert!(restarted.next(1_600_000_000_000) > stored);
    }

    #[test]
    fn time_bounds_enclose_every_id_of_their_millisecond() {
        let now = 1_700_000_000_000;
        let id = IdGenerator::new(MAX_NODE_ID, None).next(now);
        assert!(MessageId::first_at(now) <= id && id <= MessageId::last_at(now));
        assert!(MessageId::last_at(now - 1) < id && id < MessageId::first_at(now + 1));
        assert_eq!(MessageId::last_at(i64::MAX).0 >> 63, 0, "stays a positive i64");
    }

    #[test]
    fn node_bits_separate_nodes() {
        let a = IdGenerator::new(1, None).next(1_700_000_000_000);
        let b = IdGenerator::new(2, None).next(1_700_000_000_000);
        assert_ne!(a, b);
    }
}
