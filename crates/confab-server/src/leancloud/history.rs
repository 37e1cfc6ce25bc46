//! Message history as LeanCloud pages it (L-msg-2, L-cli-5, L-glob-4, the
//! v1.1 history): a starting point (`timestamp`, `msgid`) and a stopping
//! point (`till_timestamp`, `till_msgid`), each left out unless
//! `include_start`/`include_stop`, newest first unless `reversed`.

use std::collections::HashMap;

use serde_json::{json, Value};

use confab_core::ids::MessageId;
use confab_core::model::{AppId, ChatType, ConversationId, Message, Username};
use confab_core::storage::{MessageQuery, TimeBound};
use confab_core::Core;

use super::LcError;

/// Records per page by default, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryParams {
    pub start: TimeBound,
    pub stop: TimeBound,
    pub reversed: bool,
    pub limit: usize,
}

impl HistoryParams {
    pub fn parse(params: &HashMap<String, String>, now_ms: i64) -> Result<HistoryParams, LcError> {
        let number = |key: &str| -> Result<Option<i64>, LcError> {
            params
                .get(key)
                .filter(|v| !v.is_empty())
                .map(|v| v.parse::<i64>())
                .transpose()
                .map_err(|_| LcError::invalid(format!("{key} must be a number")))
        };
        let flag = |key: &str| -> Result<bool, LcError> {
            match params.get(key).map(String::as_str) {
                None | Some("") | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(other) => Err(LcError::invalid(format!("{key} must be true or false, not {other}"))),
            }
        };
        let id = |key: &str| -> Result<Option<MessageId>, LcError> {
            params
                .get(key)
                .filter(|v| !v.is_empty())
                .map(|v| MessageId::parse(v).ok_or_else(|| LcError::invalid(format!("{key} is not a message ID"))))
                .transpose()
        };
        let reversed = flag("reversed")?;
        let limit = match number("limit")? {
            None => DEFAULT_LIMIT,
            Some(n) if n >= 1 => (n as usize).min(MAX_LIMIT),
            Some(_) => return Err(LcError::invalid("limit must be at least 1")),
        };
        // The older `max_ts` (the v1.1 SDKs still send it) is the start, left out.
        let start_ms = number("timestamp")?.or(number("max_ts")?);
        let (start_id, stop_id) = (id("msgid")?, id("till_msgid")?);
        if start_id.is_some() && start_ms.is_none() {
            return Err(LcError::invalid("msgid needs its message's timestamp"));
        }
        if stop_id.is_some() && number("till_timestamp")?.is_none() {
            return Err(LcError::invalid("till_msgid needs its message's till_timestamp"));
        }
        // Without a time, a bound is the end of history on its side, and included.
        let (start_default, stop_default) = if reversed { (0, now_ms) } else { (now_ms, 0) };
        let start = match start_ms {
            Some(ms) => TimeBound { ms, id: start_id, inclusive: flag("include_start")? },
            None => TimeBound { ms: start_default, id: None, inclusive: true },
        };
        let stop = match number("till_timestamp")? {
            Some(ms) => TimeBound { ms, id: stop_id, inclusive: flag("include_stop")? },
            None => TimeBound { ms: stop_default, id: None, inclusive: true },
        };
        Ok(HistoryParams { start, stop, reversed, limit })
    }

    fn query(&self, conversation: Option<ConversationId>, from: Option<Username>) -> MessageQuery {
        let (after, before) = if self.reversed { (self.start, self.stop) } else { (self.stop, self.start) };
        MessageQuery {
            conversation,
            from,
            after: Some(after),
            before: Some(before),
            newest_first: !self.reversed,
            limit: self.limit,
        }
    }
}

/// Reads a page from several conversations (or, with none, the whole app),
/// merged in the page's order.
pub async fn read(
    core: &Core,
    app: AppId,
    conversations: &[ConversationId],
    from: Option<Username>,
    params: &HistoryParams,
) -> Result<Vec<Message>, LcError> {
    let mut all = Vec::new();
    if conversations.is_empty() {
        all = core.messages.query(app, params.query(None, from)).await?;
    } else {
        for conversation in conversations {
            all.extend(core.messages.query(app, params.query(Some(*conversation), from.clone())).await?);
        }
    }
    all.sort_by_key(|m| (m.timestamp_ms, m.id));
    if !params.reversed {
        all.reverse();
    }
    all.truncate(params.limit);
    Ok(all)
}

/// The vendor's record of a message.
pub fn record(message: &Message) -> Value {
    let conv_id = match message.chat_type {
        ChatType::Chat => message.conversation.to_string(),
        _ => message.to.clone(),
    };
    json!({
        "timestamp": message.timestamp_ms,
        "conv-id": conv_id,
        "data": data(message),
        "from": message.from.as_str(),
        "msg-id": message.id.to_string(),
        "is-conv": message.chat_type != ChatType::ChatRoom,
        "is-room": message.chat_type == ChatType::ChatRoom,
        "to": conv_id,
        "bin": crate::leancloud_data::binary(message).is_some(),
        "from-ip": "",
    })
}

pub use crate::leancloud_data::data;

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HistoryParams {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HistoryParams::parse(&map, 1_000_000).unwrap()
    }

    #[test]
    fn defaults_follow_the_direction() {
        let newest = params(&[]);
        assert_eq!((newest.start.ms, newest.stop.ms, newest.limit), (1_000_000, 0, 100));
        let oldest = params(&[("reversed", "true"), ("limit", "5000")]);
        assert_eq!((oldest.start.ms, oldest.stop.ms, oldest.limit), (0, 1_000_000, 1000));
        let bad = HistoryParams::parse(&[("msgid".to_string(), "5".to_string())].into(), 0);
        assert!(bad.is_err(), "msgid without its timestamp");
    }
}
