//! Per-conversation order for one session: which sequence number of each
//! conversation the device has had (handed over, or skipped as not meant
//! for it), and the live events that arrived ahead of a gap.
//!
//! Pure bookkeeping, so its rules are tested here by table; the session
//! (`gateway.rs`) reads storage to fill gaps and decides what the device
//! wants. Events at or below the position are duplicates and dropped; the
//! next one advances the position and releases the events waiting behind
//! it; one further ahead waits, and the first wait starts the gap clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::{ConversationId, Message};

/// How long a session waits for a missing sequence number before reading
/// it from storage (it was committed, but its live event is late or lost).
pub const GAP_WAIT: Duration = Duration::from_millis(100);

/// What became of an offered event.
#[derive(Debug, PartialEq)]
pub enum Offered {
    /// At or below the position: a duplicate, dropped.
    Duplicate,
    /// Ahead of a gap: kept until the gap is filled.
    Waiting,
    /// In order: these messages (the offered one and any it released), in
    /// sequence order; the position is past them.
    Ready(Vec<Arc<Message>>),
}

#[derive(Default)]
pub struct Order {
    position: HashMap<ConversationId, i64>,
    waiting: HashMap<ConversationId, BTreeMap<i64, Arc<Message>>>,
    gap_deadline: Option<Instant>,
}

impl Order {
    /// Where the device is in `conversation`, if known.
    pub fn position(&self, conversation: ConversationId) -> Option<i64> {
        self.position.get(&conversation).copied()
    }

    /// Sets where the device is in `conversation` (at login, or when the
    /// user joined it since).
    pub fn start(&mut self, conversation: ConversationId, seq: i64) {
        self.position.insert(conversation, seq);
    }

    /// Offers a live event of a conversation whose position is known.
    pub fn offer(&mut self, message: Arc<Message>, now: Instant) -> Offered {
        let conversation = message.conversation;
        let position = self.position.get(&conversation).copied().unwrap_or(0);
        if message.seq <= position {
            return Offered::Duplicate;
        }
        if message.seq > position + 1 {
            self.waiting.entry(conversation).or_default().insert(message.seq, message);
            self.gap_deadline.get_or_insert(now + GAP_WAIT);
            return Offered::Waiting;
        }
        let mut ready = vec![message];
        let mut next = position + 2;
        if let Some(waiting) = self.waiting.get_mut(&conversation) {
            while let Some(queued) = waiting.remove(&next) {
                ready.push(queued);
                next += 1;
            }
            if waiting.is_empty() {
                self.waiting.remove(&conversation);
            }
        }
        self.position.insert(conversation, next - 1);
        if self.waiting.is_empty() {
            self.gap_deadline = None;
        }
        Offered::Ready(ready)
    }

    /// When the oldest wait times out, if anything waits.
    pub fn gap_deadline(&self) -> Option<Instant> {
        self.gap_deadline
    }

    /// The gaps to read from storage, `(conversation, after, up to)`, and
    /// forgets what waited: the read returns all of it, in order.
    pub fn take_gaps(&mut self) -> Vec<(ConversationId, i64, i64)> {
        self.gap_deadline = None;
        let gaps = self
            .waiting
            .iter()
            .filter_map(|(c, w)| w.keys().next_back().map(|max| (*c, self.position(*c).unwrap_or(0), *max)))
            .collect();
        self.waiting.clear();
        gaps
    }

    /// The device is out of `conversation`: its place there is void.
    pub fn forget(&mut self, conversation: ConversationId) {
        self.position.remove(&conversation);
        self.waiting.remove(&conversation);
        if self.waiting.is_empty() {
            self.gap_deadline = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MessageId;
    use crate::model::{AppId, Body, ChatType, MessageState, Username};

    fn message(conversation: i64, seq: i64) -> Arc<Message> {
        Arc::new(Message {
            id: MessageId(seq as u64),
            app: AppId(1),
            conversation: ConversationId(conversation),
            seq,
            chat_type: ChatType::Chat,
            from: Username::parse("a").unwrap(),
            to: "b".into(),
            body: Body::Text { msg: format!("{seq}") },
            ext: None,
            timestamp_ms: seq,
            sync_sender: false,
            origin_device: None,
            original: None,
            receivers: None,
            state: MessageState::Normal,
        })
    }

    fn seqs(offered: Offered) -> Vec<i64> {
        match offered {
            Offered::Ready(list) => list.iter().map(|m| m.seq).collect(),
            Offered::Waiting => vec![-1],
            Offered::Duplicate => vec![],
        }
    }

    /// A case: its name, the position, the sequence numbers offered in turn,
    /// and what each offer gives (`-1`: waits; empty: dropped as a duplicate).
    type Case = (&'static str, i64, &'static [i64], &'static [&'static [i64]]);

    #[test]
    fn events_are_released_in_order_once() {
        let cases: &[Case] = &[
            ("in order", 0, &[1, 2, 3], &[&[1], &[2], &[3]]),
            ("duplicates dropped", 2, &[1, 2, 3, 3], &[&[], &[], &[3], &[]]),
            ("a gap waits, then releases", 0, &[2, 3, 1], &[&[-1], &[-1], &[1, 2, 3]]),
            ("out of order twice", 5, &[8, 7, 6], &[&[-1], &[-1], &[6, 7, 8]]),
            ("a release stops at the next gap", 0, &[2, 4, 1, 3], &[&[-1], &[-1], &[1, 2], &[3, 4]]),
            ("a duplicate of a waiting event", 0, &[2, 2, 1], &[&[-1], &[-1], &[1, 2]]),
            ("resumed past a cursor", 10, &[9, 10, 11], &[&[], &[], &[11]]),
        ];
        let now = Instant::now();
        for (name, start, offers, expected) in cases {
            let mut order = Order::default();
            order.start(ConversationId(1), *start);
            let got: Vec<Vec<i64>> = offers.iter().map(|seq| seqs(order.offer(message(1, *seq), now))).collect();
            let expected: Vec<Vec<i64>> = expected.iter().map(|e| e.to_vec()).collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn the_gap_clock_starts_at_the_first_wait_and_stops_when_nothing_waits() {
        let now = Instant::now();
        let mut order = Order::default();
        order.start(ConversationId(1), 0);
        order.start(ConversationId(2), 0);
        assert_eq!(order.gap_deadline(), None);
        order.offer(message(1, 2), now);
        assert_eq!(order.gap_deadline(), Some(now + GAP_WAIT));
        // A later wait does not push the deadline back.
        order.offer(message(2, 3), now + Duration::from_millis(50));
        assert_eq!(order.gap_deadline(), Some(now + GAP_WAIT));
        // One conversation's gap filled: the other still waits.
        order.offer(message(1, 1), now);
        assert_eq!(order.gap_deadline(), Some(now + GAP_WAIT));
        assert_eq!(seqs(order.offer(message(2, 1), now)), [1]);
        assert_eq!(seqs(order.offer(message(2, 2), now)), [2, 3]);
        assert_eq!(order.gap_deadline(), None);
    }

    #[test]
    fn gaps_are_read_from_the_position_to_the_last_waiting_event() {
        let now = Instant::now();
        let mut order = Order::default();
        order.start(ConversationId(1), 4);
        order.start(ConversationId(2), 0);
        order.offer(message(1, 7), now);
        order.offer(message(1, 9), now);
        order.offer(message(2, 3), now);
        let mut gaps = order.take_gaps();
        gaps.sort();
        assert_eq!(gaps, [(ConversationId(1), 4, 9), (ConversationId(2), 0, 3)]);
        assert_eq!(order.gap_deadline(), None);
        assert!(order.take_gaps().is_empty(), "what waited is read once");
    }

    #[test]
    fn leaving_a_conversation_voids_its_place() {
        let now = Instant::now();
        let mut order = Order::default();
        order.start(ConversationId(1), 3);
        order.offer(message(1, 5), now);
        order.forget(ConversationId(1));
        assert_eq!(order.position(ConversationId(1)), None);
        assert_eq!(order.gap_deadline(), None);
        assert!(order.take_gaps().is_empty());
    }
}
