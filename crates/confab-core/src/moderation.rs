//! Sensitive words: words an app's users may not put in their own messages.
//!
//! Only sends by users themselves are screened (a client's send, a robot's
//! send); what an app's backend sends through an admin API is trusted, as
//! the clouds do. What happens to a match is the app's [`Strategy`]. Words
//! match case-insensitively anywhere in a message's text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::error::{Error, Result};
use crate::model::{AppId, SettingKey};
use crate::settings::SettingService;

/// Settings namespace of the words (owner `""`, key: the word).
const WORDS: &str = "sensitive.words";
/// Settings namespace of the strategy (owner and key `""`).
const STRATEGY: &str = "sensitive.strategy";
/// Most words an app may have.
pub const MAX_WORDS: usize = 10_000;
/// Longest word, in characters.
pub const MAX_WORD_CHARS: usize = 64;
/// How long a node trusts its copy of an app's words; another node's change
/// is enforced here at most this much later.
const FRESH_FOR: Duration = Duration::from_secs(2);
/// What a replaced word becomes.
const REPLACEMENT: &str = "***";

/// What happens to a user's message with a sensitive word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Refused with [`crate::error::Refusal::SensitiveWords`] (the default).
    #[default]
    Refuse,
    /// Accepted and thrown away: nobody receives it (WildfireChat's type 1).
    Drop,
    /// Delivered with each word replaced by `***`.
    Replace,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Refuse => "refuse",
            Strategy::Drop => "drop",
            Strategy::Replace => "replace",
        }
    }

    pub fn parse(name: &str) -> Option<Strategy> {
        [Strategy::Refuse, Strategy::Drop, Strategy::Replace].into_iter().find(|s| s.as_str() == name)
    }
}

/// What screening made of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screened {
    Clean,
    /// It matched and the strategy says refuse.
    Refused,
    /// It matched and the strategy says drop.
    Dropped,
    /// It matched; this is the text to deliver instead.
    Replaced(String),
}

struct Filter {
    matcher: Option<AhoCorasick>,
    strategy: Strategy,
}

/// Per app: its compiled filter and when it was read.
type FilterCache = Mutex<HashMap<AppId, (Arc<Filter>, Instant)>>;

#[derive(Clone)]
pub struct ModerationService {
    settings: SettingService,
    cache: Arc<FilterCache>,
}

impl ModerationService {
    pub(crate) fn new(settings: SettingService) -> ModerationService {
        ModerationService { settings, cache: Arc::default() }
    }

    /// Adds words (kept lowercase; those already there are kept once).
    pub async fn add_words(&self, app: AppId, words: Vec<String>) -> Result<()> {
        let mut entries = Vec::with_capacity(words.len());
        for word in words {
            let word = word.trim().to_lowercase();
            if word.is_empty() || word.chars().count() > MAX_WORD_CHARS || word.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(format!(
                    "a sensitive word is 1 to {MAX_WORD_CHARS} printable characters"
                )));
            }
            entries.push((SettingKey::new(WORDS, "", &word), String::new()));
        }
        let have = self.words(app).await?;
        let new = entries.iter().filter(|(k, _)| !have.contains(&k.key)).count();
        if have.len() + new > MAX_WORDS {
            return Err(Error::LimitExceeded(format!("an app has at most {MAX_WORDS} sensitive words")));
        }
        self.settings.put(app, entries).await?;
        self.forget(app);
        Ok(())
    }

    /// Removes words; how many there were.
    pub async fn remove_words(&self, app: AppId, words: Vec<String>) -> Result<u64> {
        let keys = words.iter().map(|w| SettingKey::new(WORDS, "", &w.trim().to_lowercase())).collect();
        let removed = self.settings.remove(app, keys).await?;
        self.forget(app);
        Ok(removed)
    }

    /// The app's words, sorted.
    pub async fn words(&self, app: AppId) -> Result<Vec<String>> {
        Ok(self.settings.of(app, WORDS, "").await?.into_iter().map(|s| s.key).collect())
    }

    pub async fn set_strategy(&self, app: AppId, strategy: Strategy) -> Result<()> {
        self.settings.put(app, vec![(SettingKey::new(STRATEGY, "", ""), strategy.as_str().to_owned())]).await?;
        self.forget(app);
        Ok(())
    }

    pub async fn strategy(&self, app: AppId) -> Result<Strategy> {
        let stored = self.settings.get(app, SettingKey::new(STRATEGY, "", "")).await?;
        Ok(stored.and_then(|s| Strategy::parse(&s.value)).unwrap_or_default())
    }

    /// Screens the text of a user's own message.
    pub async fn screen(&self, app: AppId, text: &str) -> Result<Screened> {
        let filter = self.filter(app).await?;
        let Some(matcher) = &filter.matcher else {
            return Ok(Screened::Clean);
        };
        if !matcher.is_match(text) {
            return Ok(Screened::Clean);
        }
        Ok(match filter.strategy {
            Strategy::Refuse => Screened::Refused,
            Strategy::Drop => Screened::Dropped,
            Strategy::Replace => {
                Screened::Replaced(matcher.replace_all(text, &vec![REPLACEMENT; matcher.patterns_len()]))
            }
        })
    }

    async fn filter(&self, app: AppId) -> Result<Arc<Filter>> {
        if let Some((filter, at)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&app) {
            if at.elapsed() < FRESH_FOR {
                return Ok(filter.clone());
            }
        }
        let words = self.words(app).await?;
        let matcher = match words.is_empty() {
            true => None,
            false => Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&words)
                    .map_err(|e| Error::Storage(format!("sensitive words: {e}")))?,
            ),
        };
        let filter = Arc::new(Filter { matcher, strategy: self.strategy(app).await? });
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(app, (filter.clone(), Instant::now()));
        Ok(filter)
    }

    fn forget(&self, app: AppId) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_round_trip_their_names() {
        for s in [Strategy::Refuse, Strategy::Drop, Strategy::Replace] {
            assert_eq!(Strategy::parse(s.as_str()), Some(s));
        }
        assert_eq!(Strategy::parse("other"), None);
    }
}
