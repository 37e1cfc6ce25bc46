//! The app's server's say over a message before it is stored or handed out
//! (the vendors' pre-send callbacks: Easemob's 发送前回调, LeanCloud's
//! `_messageReceived`, WildfireChat's remote censor).
//!
//! The core asks the [`SendGate`] about each message after its own rules
//! passed (mutes, membership, blocks, sensitive words) and before anything is
//! stored, so a refused message leaves no trace. The gate lives at the edge:
//! it knows the app's vendor format, its URL and its secret, and turns every
//! failure (timeout, bad answer) into a verdict by the app's failure policy.
//! Without a gate every message passes.

use async_trait::async_trait;

use crate::model::{AppId, Audience, Body, ChatType, NewMessage, Original, Username};

/// What the app's server said about a message.
// One is made per message sent and consumed at once; boxing the body would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// Not stored, not delivered; the sender is told, with the app's words.
    Refuse {
        detail: Option<String>,
    },
    /// Stored and delivered with this content instead, and (a group
    /// message, when `receivers` names some) only to those of its members.
    Replace {
        body: Body,
        ext: Option<serde_json::Value>,
        original: Option<Original>,
        receivers: Option<Vec<Username>>,
    },
}

/// Asks the app's server about a message (see the module's doc).
#[async_trait]
pub trait SendGate: Send + Sync {
    /// The verdict on `message`, whose ID and time are already assigned. Must
    /// answer within the app's bounded wait.
    async fn check(&self, app: AppId, message: &NewMessage) -> Verdict;
}

/// Applies the gate to each message to be sent, in place: all pass (some
/// with new content) or the send is refused as a whole, as a group send is
/// all or nothing.
pub(crate) async fn screen(
    gate: Option<&dyn SendGate>,
    app: AppId,
    drafts: &mut [NewMessage],
) -> crate::error::Result<()> {
    let Some(gate) = gate else {
        return Ok(());
    };
    if let [one] = drafts {
        // The usual case: one message, no list of futures.
        let verdict = gate.check(app, one).await;
        return apply(one, verdict);
    }
    // The app's server is asked about every message at once: a send to many
    // users waits for the slowest answer, not the sum of them.
    let verdicts = futures_util::future::join_all(drafts.iter().map(|draft| gate.check(app, draft))).await;
    for (draft, verdict) in drafts.iter_mut().zip(verdicts) {
        apply(draft, verdict)?;
    }
    Ok(())
}

fn apply(draft: &mut NewMessage, verdict: Verdict) -> crate::error::Result<()> {
    match verdict {
        Verdict::Pass => Ok(()),
        Verdict::Refuse { detail } => {
            let refused = crate::error::Refused::of(crate::error::Refusal::ByAppServer, &draft.from);
            Err(refused.with_detail(detail).into())
        }
        Verdict::Replace { body, ext, original, receivers } => {
            body.validate()?;
            draft.body = body;
            draft.ext = ext;
            draft.original = original;
            // Narrowing only: a group message's receivers become those named
            // that it would have reached anyway (members, or its chosen ones).
            if let (Some(named), ChatType::GroupChat | ChatType::Thread | ChatType::ChatRoom) =
                (receivers, draft.chat_type)
            {
                draft.audience = match &draft.audience {
                    Audience::Members => Audience::Only(named),
                    Audience::Only(chosen) => {
                        Audience::Only(chosen.iter().filter(|u| named.contains(u)).cloned().collect())
                    }
                    other => other.clone(),
                };
            }
            Ok(())
        }
    }
}
