//! Rate limits and other per-app limits (recall window, history retention). Each dialect names its limits (`easemob.…`); the
//! server configuration gives defaults and each app may override them
//! (`confab app limit`). 0 means unlimited.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use confab_core::model::{App, AppId};

/// Over how long a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Minute,
    /// A day's total, replenished evenly through the day.
    Day,
}

/// Every Easemob REST call of an app.
pub const EASEMOB_REQUESTS_PER_SECOND: &str = "easemob.requests_per_second";
/// Receivers of one-to-one messages sent by an app.
pub const EASEMOB_MESSAGE_RECEIVERS_PER_MINUTE: &str = "easemob.message_receivers_per_minute";

/// Messages an app sends to groups, and to chat rooms.
pub const EASEMOB_GROUP_MESSAGES_PER_SECOND: &str = "easemob.group_messages_per_second";
pub const EASEMOB_ROOM_MESSAGES_PER_SECOND: &str = "easemob.room_messages_per_second";

/// Every WildfireChat admin call of an app (the vendor's `HTTP_ADMIN_RATE_LIMIT`).
pub const WILDFIRE_REQUESTS_PER_SECOND: &str = "wildfire.requests_per_second";

/// LeanCloud's message calls (send, edit, recall), per minute.
pub const LEANCLOUD_MESSAGES_PER_MINUTE: &str = "leancloud.messages_per_minute";
/// LeanCloud's messages to all of a service conversation's subscribers.
pub const LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_MINUTE: &str = "leancloud.subscription_messages_per_minute";
pub const LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_DAY: &str = "leancloud.subscription_messages_per_day";
/// LeanCloud's app-wide broadcasts.
pub const LEANCLOUD_BROADCASTS_PER_MINUTE: &str = "leancloud.broadcasts_per_minute";
pub const LEANCLOUD_BROADCASTS_PER_DAY: &str = "leancloud.broadcasts_per_day";

/// How long after sending a message the Easemob dialect may recall it (0: recall is off).
pub const EASEMOB_RECALL_WINDOW_SECS: &str = "easemob.recall_window_secs";
/// Hours for which the Easemob dialect keeps hourly history files.
pub const EASEMOB_HISTORY_RETENTION_HOURS: &str = "easemob.history_retention_hours";

/// The vendors' documented defaults.
pub fn vendor_defaults() -> BTreeMap<String, u32> {
    BTreeMap::from([
        (EASEMOB_REQUESTS_PER_SECOND.to_owned(), 100),
        (EASEMOB_MESSAGE_RECEIVERS_PER_MINUTE.to_owned(), 6000),
        (EASEMOB_GROUP_MESSAGES_PER_SECOND.to_owned(), 20),
        (EASEMOB_ROOM_MESSAGES_PER_SECOND.to_owned(), 100),
        (WILDFIRE_REQUESTS_PER_SECOND.to_owned(), 10_000),
        (EASEMOB_RECALL_WINDOW_SECS.to_owned(), 120),
        (LEANCLOUD_MESSAGES_PER_MINUTE.to_owned(), 1800),
        (LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_MINUTE.to_owned(), 30),
        (LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_DAY.to_owned(), 1000),
        (LEANCLOUD_BROADCASTS_PER_MINUTE.to_owned(), 10),
        (LEANCLOUD_BROADCASTS_PER_DAY.to_owned(), 30),
        (EASEMOB_HISTORY_RETENTION_HOURS.to_owned(), 72),
    ])
}

type Limiter = Arc<DefaultDirectRateLimiter>;
/// A limiter and the limit it was built for.
type Bucket = (u32, Limiter);

pub struct RateLimits {
    defaults: BTreeMap<String, u32>,
    /// One token bucket per (app, limit), rebuilt when its setting changes.
    buckets: Mutex<HashMap<(AppId, &'static str), Bucket>>,
}

impl RateLimits {
    pub fn new(defaults: BTreeMap<String, u32>) -> RateLimits {
        RateLimits { defaults, buckets: Mutex::default() }
    }

    /// The app's setting `name` (its own, or the server's default; 0 when neither).
    pub fn value(&self, app: &App, name: &str) -> u32 {
        app.rate_limits.get(name).or_else(|| self.defaults.get(name)).copied().unwrap_or(0)
    }

    /// Takes `n` units from the app's `name` bucket; false when over the limit.
    pub fn allow(&self, app: &App, name: &'static str, per: Per, n: u32) -> bool {
        let limit = self.value(app, name);
        let Some(rate) = NonZeroU32::new(limit) else {
            return true;
        };
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let entry = buckets.entry((app.id, name)).or_insert_with(|| (limit, bucket(rate, per)));
            if entry.0 != limit {
                *entry = (limit, bucket(rate, per));
            }
            entry.1.clone()
        };
        match NonZeroU32::new(n) {
            None => true,
            Some(n) => matches!(limiter.check_n(n), Ok(Ok(()))),
        }
    }
}

fn bucket(rate: NonZeroU32, per: Per) -> Limiter {
    let quota = match per {
        Per::Second => Quota::per_second(rate),
        Per::Minute => Quota::per_minute(rate),
        Per::Day => Quota::with_period(std::time::Duration::from_secs(86_400) / rate.get())
            .expect("a day divided by a positive count is positive")
            .allow_burst(rate),
    };
    Arc::new(RateLimiter::direct(quota))
}
