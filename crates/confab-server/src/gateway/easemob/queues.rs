//! What one msync connection has to hand over, per queue (one per peer:
//! a user, a group, a chat room), and the batches handed over and not yet
//! acknowledged, by key.
//!
//! Bounded: a connection holds at most [`MAX_HELD`] items. Past that it
//! stops taking more (they stay undelivered in storage: nothing after them
//! is acknowledged either, so the core's cursors never pass them) and, once
//! the client has drained what it holds, the connection ends so that the
//! SDK's reconnection reads the rest from storage.

use std::collections::{BTreeMap, HashMap, VecDeque};

use confab_core::model::ConversationId;

use super::proto::{Jid, Meta, MetaQueue};

/// Items one connection holds at most (queued and handed over unacknowledged).
pub const MAX_HELD: usize = 20_000;
/// Metas in one answer to a pull.
pub const PULL_BATCH: usize = 100;

/// One thing to hand over: a meta, and for a stored message the place in
/// its conversation that acknowledging it moves the delivery cursor to.
pub struct Item {
    pub meta: Meta,
    pub ack: Option<(ConversationId, i64)>,
}

/// What a push did.
pub enum Pushed {
    /// The queue was not announced: tell the client with a `NOTICE`.
    Notice(Jid),
    /// The client knows of the queue already, or the item was held back.
    Quiet,
}

/// A queue's name as a map key: its user or group and its domain.
type QueueKey = (String, String);

#[derive(Default)]
pub struct Queues {
    waiting: BTreeMap<QueueKey, (Jid, VecDeque<Item>)>,
    /// Queues announced by a `NOTICE` and not pulled empty since.
    noticed: std::collections::HashSet<QueueKey>,
    /// Batches handed over, by key: the cursor moves they acknowledge.
    handed: HashMap<u64, Vec<(ConversationId, i64)>>,
    next_key: u64,
    held: usize,
    /// Something was held back: the connection ends once drained.
    overflowed: bool,
}

fn key_of(queue: &Jid) -> QueueKey {
    (queue.name.clone().unwrap_or_default(), queue.domain.clone().unwrap_or_default())
}

impl Queues {
    pub fn push(&mut self, queue: Jid, item: Item) -> Pushed {
        if self.overflowed || self.held >= MAX_HELD {
            self.overflowed = true;
            return Pushed::Quiet;
        }
        self.held += 1;
        let key = key_of(&queue);
        let entry = self.waiting.entry(key.clone()).or_insert_with(|| (queue.clone(), VecDeque::new()));
        entry.1.push_back(item);
        if self.noticed.insert(key) {
            Pushed::Notice(queue)
        } else {
            Pushed::Quiet
        }
    }

    /// Each queue with something waiting, and how much (the `UNREAD` answer).
    pub fn summary(&self) -> Vec<MetaQueue> {
        self.waiting
            .values()
            .filter(|(_, items)| !items.is_empty())
            .map(|(queue, items)| MetaQueue { queue: Some(queue.clone()), n: u32::try_from(items.len()).ok() })
            .collect()
    }

    /// The client acknowledged the batch `key`: the cursor moves it asks
    /// for (each conversation's furthest), once.
    pub fn acknowledged(&mut self, key: u64) -> Vec<(ConversationId, i64)> {
        let Some(batch) = self.handed.remove(&key) else { return Vec::new() };
        self.held = self.held.saturating_sub(batch.len());
        let mut furthest: BTreeMap<ConversationId, i64> = BTreeMap::new();
        for (conversation, seq) in batch {
            let at = furthest.entry(conversation).or_insert(seq);
            *at = (*at).max(seq);
        }
        furthest.into_iter().collect()
    }

    /// The next batch of a queue, with its key; `None` when the queue is
    /// empty (the client is then told `isLast`, and a new item will be
    /// announced again).
    pub fn next_batch(&mut self, queue: &Jid) -> Option<(u64, Vec<Meta>)> {
        let key = key_of(queue);
        let Some((_, items)) = self.waiting.get_mut(&key) else {
            self.noticed.remove(&key);
            return None;
        };
        if items.is_empty() {
            self.waiting.remove(&key);
            self.noticed.remove(&key);
            return None;
        }
        let take = items.len().min(PULL_BATCH);
        let mut metas = Vec::with_capacity(take);
        let mut acks = Vec::with_capacity(take);
        for item in items.drain(..take) {
            metas.push(item.meta);
            acks.push(item.ack);
        }
        self.next_key += 1;
        // Items that move no cursor are done with once handed over.
        let not_stored = acks.iter().filter(|a| a.is_none()).count();
        self.held = self.held.saturating_sub(not_stored);
        self.handed.insert(self.next_key, acks.into_iter().flatten().collect());
        Some((self.next_key, metas))
    }

    /// Whether the connection held something back and has now handed over
    /// and had acknowledged everything else.
    pub fn drained_after_overflow(&self) -> bool {
        self.overflowed && self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(name: &str) -> Jid {
        Jid { name: Some(name.into()), domain: Some("easemob.com".into()), ..Default::default() }
    }

    fn item(id: u64, seq: i64) -> Item {
        Item { meta: Meta { id: Some(id), ..Default::default() }, ack: Some((ConversationId(1), seq)) }
    }

    #[test]
    fn a_queue_is_announced_once_until_pulled_empty() {
        let mut queues = Queues::default();
        assert!(matches!(queues.push(jid("bob"), item(1, 1)), Pushed::Notice(_)));
        assert!(matches!(queues.push(jid("bob"), item(2, 2)), Pushed::Quiet));
        assert_eq!(queues.summary()[0].n, Some(2));
        let (key, metas) = queues.next_batch(&jid("bob")).unwrap();
        assert_eq!(metas.len(), 2);
        assert!(queues.next_batch(&jid("bob")).is_none(), "empty: isLast");
        assert_eq!(queues.acknowledged(key), vec![(ConversationId(1), 2)], "the furthest, once");
        assert!(queues.acknowledged(key).is_empty());
        assert!(matches!(queues.push(jid("bob"), item(3, 3)), Pushed::Notice(_)), "announced again");
    }

    #[test]
    fn past_the_cap_nothing_more_is_taken_and_the_drained_connection_ends() {
        let mut queues = Queues::default();
        for n in 0..MAX_HELD as u64 + 5 {
            queues.push(jid("bob"), item(n, n as i64));
        }
        assert_eq!(queues.summary()[0].n, Some(MAX_HELD as u32));
        while let Some((key, _)) = queues.next_batch(&jid("bob")) {
            assert!(!queues.drained_after_overflow());
            queues.acknowledged(key);
        }
        assert!(queues.drained_after_overflow());
    }
}
