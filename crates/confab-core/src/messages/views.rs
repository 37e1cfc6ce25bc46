//! One user's view of their messages: their conversations with the newest
//! message and unread count of each, and a conversation's history a page at
//! a time. What a client SDK lists when the app opens (Easemob's
//! `getServerConversations` and `getHistoryMessages`).
//!
//! A user sees what was theirs: messages sent after they joined, to
//! everyone or to them, and neither recalled, deleted nor hidden from them.

use std::cmp::Reverse;

use super::MessageService;
use crate::error::Result;
use crate::ids::MessageId;
use crate::model::{AppId, ChatType, ConversationId, Membership, Message, Username};
use crate::storage::{HiddenRange, MessageQuery, TimeBound};

/// Most rows read from storage per round while a page of visible messages fills.
const READ_AHEAD: usize = 64;
/// Rounds per page: past it the page ends short (and says it is not the last).
const MAX_ROUNDS: usize = 32;

/// A conversation's messages from others a user has not read.
#[derive(Debug, Clone)]
pub struct Unread {
    pub conversation: ConversationId,
    pub count: u64,
    /// The conversation's newest message.
    pub last: Message,
}

/// One of a user's conversations, as their conversation list shows it.
#[derive(Debug, Clone)]
pub struct ConversationSummary {
    pub conversation: ConversationId,
    pub chat_type: ChatType,
    /// The newest message the user can see in it.
    pub last: Message,
    /// Messages from others they have not read.
    pub unread: u64,
}

impl ConversationSummary {
    /// Who or what the conversation is with: the other user of a one-to-one
    /// chat, the group otherwise.
    pub fn peer(&self, user: &Username) -> &str {
        match self.chat_type {
            ChatType::Chat if self.last.from == *user => &self.last.to,
            ChatType::Chat => self.last.from.as_str(),
            _ => &self.last.to,
        }
    }
}

/// Which way a history page reads from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first, from the newest message (or from before `start`).
    Older,
    /// Oldest first, from the oldest message (or from after `start`).
    Newer,
}

/// A page of one conversation's history, as one member sees it.
#[derive(Debug, Clone)]
pub struct HistoryRequest {
    pub conversation: ConversationId,
    /// The message the page continues from (not included).
    pub start: Option<MessageId>,
    pub direction: Direction,
    pub limit: usize,
    /// Sent at or after (Unix ms).
    pub sent_from_ms: Option<i64>,
    /// Sent at or before (Unix ms).
    pub sent_until_ms: Option<i64>,
    /// Sent by this user only.
    pub from: Option<Username>,
    /// Of these body types only (`txt`, `img`, …); empty: any.
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// In the page's direction.
    pub messages: Vec<Message>,
    /// Nothing further in that direction.
    pub is_last: bool,
    /// Where the next page starts (not included), when this is not the
    /// last: the last message of this one, or, when a page ends short
    /// after reading its most rows, the last message read for it.
    pub next: Option<MessageId>,
}

/// What one user may see of a conversation.
struct Visibility {
    user: Username,
    membership: Membership,
    hidden: Vec<HiddenRange>,
}

impl Visibility {
    /// What `user` sees of the conversation `membership` is in, given every
    /// range hidden from them.
    fn of(user: &Username, membership: Membership, hidden: Vec<HiddenRange>) -> Visibility {
        let hidden = hidden.into_iter().filter(|r| r.conversation == membership.conversation).collect();
        Visibility { user: user.clone(), membership, hidden }
    }

    fn shows(&self, message: &Message) -> bool {
        message.seq > self.membership.joined_seq
            && message.state.is_visible()
            && (message.from == self.user || message.is_addressed_to(&self.user))
            && !self.hidden.iter().any(|range| range.contains(message))
    }
}

impl MessageService {
    async fn visibility(&self, app: AppId, user: &Username, membership: Membership) -> Result<Visibility> {
        let hidden = self.deps.store.hidden_ranges(app, user).await?;
        Ok(Visibility::of(user, membership, hidden))
    }

    /// The user's one-to-one chats and groups that have a message they can
    /// see, newest message first, each with its unread count.
    pub async fn conversations_of(&self, app: AppId, user: &Username) -> Result<Vec<ConversationSummary>> {
        let mut summaries = Vec::new();
        for membership in self.deps.store.memberships(app, user).await? {
            let chat_type = membership.chat_type;
            if !matches!(chat_type, ChatType::Chat | ChatType::GroupChat)
                || membership.last_seq <= membership.joined_seq
            {
                continue;
            }
            let conversation = membership.conversation;
            let visibility = self.visibility(app, user, membership).await?;
            let request = HistoryRequest {
                conversation,
                start: None,
                direction: Direction::Older,
                limit: 1,
                sent_from_ms: None,
                sent_until_ms: None,
                from: None,
                kinds: Vec::new(),
            };
            let Some(last) = self.page(app, &visibility, &request).await?.messages.pop() else {
                continue;
            };
            if last.line() != 0 {
                // A WildfireChat line of its own is not this conversation.
                continue;
            }
            let unread = self.deps.store.unread_count(app, user, Some(conversation)).await?;
            summaries.push(ConversationSummary { conversation, chat_type, last, unread });
        }
        summaries.sort_unstable_by_key(|s| (Reverse(s.last.timestamp_ms), Reverse(s.last.id)));
        Ok(summaries)
    }

    /// A page of a conversation's history as `user` sees it; `None` when
    /// they are not a member of it.
    pub async fn history_of(
        &self,
        app: AppId,
        user: &Username,
        request: &HistoryRequest,
    ) -> Result<Option<HistoryPage>> {
        // All at once: on PostgreSQL each is a round trip, and a chat screen
        // opening waits for this page. A page from either end does not need
        // the membership to know its first rows, so they are read too, and
        // dropped unseen if the user turns out not to be a member.
        let first_rows = async {
            match request.start {
                None => Some(self.deps.store.query_messages(app, first_round(request)).await),
                Some(_) => None,
            }
        };
        let (membership, hidden, first_rows) = tokio::join!(
            self.deps.store.membership(app, user, request.conversation),
            self.deps.store.hidden_ranges(app, user),
            first_rows
        );
        let Some(membership) = membership? else {
            return Ok(None);
        };
        let visibility = Visibility::of(user, membership, hidden?);
        self.page_from(app, &visibility, request, first_rows.transpose()?).await.map(Some)
    }

    async fn page(&self, app: AppId, visibility: &Visibility, request: &HistoryRequest) -> Result<HistoryPage> {
        self.page_from(app, visibility, request, None).await
    }

    /// A page; `first_rows`, when given, are what its first round's query
    /// ([`first_round`]) returned.
    async fn page_from(
        &self,
        app: AppId,
        visibility: &Visibility,
        request: &HistoryRequest,
        mut first_rows: Option<Vec<Message>>,
    ) -> Result<HistoryPage> {
        let mut bound = match request.start {
            Some(id) => match self.deps.store.message(app, id).await? {
                Some(m) if m.conversation == request.conversation => {
                    Some(TimeBound { ms: m.timestamp_ms, id: Some(m.id), inclusive: false })
                }
                // A start that is not of this conversation: nothing after it.
                _ => return Ok(HistoryPage { messages: Vec::new(), is_last: true, next: None }),
            },
            None => None,
        };
        let mut messages = Vec::with_capacity(request.limit.min(READ_AHEAD));
        for round in 0..MAX_ROUNDS {
            // Past the first round rows are being skipped: read ahead.
            let per_round = if round == 0 { rows_per_round(request) } else { READ_AHEAD };
            let rows = match first_rows.take() {
                Some(rows) => rows,
                None => self.deps.store.query_messages(app, round_query(request, bound, per_round)).await?,
            };
            let exhausted = rows.len() < per_round;
            for message in rows {
                bound = Some(TimeBound { ms: message.timestamp_ms, id: Some(message.id), inclusive: false });
                if !visibility.shows(&message) {
                    continue;
                }
                if !request.kinds.is_empty() && !request.kinds.iter().any(|k| k == message.body.type_name()) {
                    continue;
                }
                if messages.len() == request.limit {
                    let next = messages.last().map(|m: &Message| m.id);
                    return Ok(HistoryPage { messages, is_last: false, next });
                }
                messages.push(message);
            }
            if exhausted {
                return Ok(HistoryPage { messages, is_last: true, next: None });
            }
        }
        // Many rows read and few shown: the next page goes on from the last read.
        let next = bound.and_then(|b| b.id);
        Ok(HistoryPage { messages, is_last: false, next })
    }

    /// The user's conversations with messages from others not read, with how
    /// many and the newest message (not chat rooms, whose members keep no
    /// place), newest first, at most `limit`.
    pub async fn unread_by_conversation(&self, app: AppId, user: &Username, limit: usize) -> Result<Vec<Unread>> {
        let mut unread = Vec::new();
        for membership in self.deps.store.memberships(app, user).await? {
            let seen = membership.read_seq.max(membership.joined_seq);
            if membership.chat_type == ChatType::ChatRoom || membership.last_seq <= seen {
                continue;
            }
            let count = self.deps.store.unread_count(app, user, Some(membership.conversation)).await?;
            if count == 0 {
                continue;
            }
            let last = self.deps.store.message_at(app, membership.conversation, membership.last_seq).await?;
            if let Some(last) = last {
                unread.push(Unread { conversation: membership.conversation, count, last });
            }
        }
        unread.sort_unstable_by_key(|u| Reverse(u.last.timestamp_ms));
        unread.truncate(limit);
        Ok(unread)
    }
}

/// The earlier of two upper bounds (the cursor on a tie).
fn earlier(cursor: Option<TimeBound>, other: Option<TimeBound>) -> Option<TimeBound> {
    match (cursor, other) {
        (Some(c), Some(o)) if o.ms < c.ms => Some(o),
        (Some(c), _) => Some(c),
        (None, o) => o,
    }
}

/// Rows the first round reads. One more than the page holds tells whether
/// the page is the last, and where every row is shown (the usual case) one
/// round does; a page of some kinds only reads ahead, as it may skip many,
/// and so do the rounds after the first.
fn rows_per_round(request: &HistoryRequest) -> usize {
    if request.kinds.is_empty() {
        request.limit.saturating_add(1).min(READ_AHEAD)
    } else {
        READ_AHEAD
    }
}

/// The query of a page's round that goes on from `bound` (the last row read).
fn round_query(request: &HistoryRequest, bound: Option<TimeBound>, limit: usize) -> MessageQuery {
    let from_bound = request.sent_from_ms.map(|ms| TimeBound { ms, id: None, inclusive: true });
    let until_bound = request.sent_until_ms.map(|ms| TimeBound { ms, id: None, inclusive: true });
    let older = request.direction == Direction::Older;
    let (after, before) =
        if older { (from_bound, earlier(bound, until_bound)) } else { (later(bound, from_bound), until_bound) };
    MessageQuery {
        conversation: Some(request.conversation),
        from: request.from.clone(),
        after,
        before,
        newest_first: older,
        limit,
    }
}

/// The first round's query of a page that starts at either end.
fn first_round(request: &HistoryRequest) -> MessageQuery {
    round_query(request, None, rows_per_round(request))
}

/// The later of two lower bounds (the cursor on a tie).
fn later(cursor: Option<TimeBound>, other: Option<TimeBound>) -> Option<TimeBound> {
    match (cursor, other) {
        (Some(c), Some(o)) if o.ms > c.ms => Some(o),
        (Some(c), _) => Some(c),
        (None, o) => o,
    }
}
