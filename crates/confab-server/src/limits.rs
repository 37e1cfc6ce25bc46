//! Rate limits and other per-app limits (recall window, history retention). Each dialect names its limits (`easemob.…`); the
//! server configuration gives defaults and each app may override them
//! (`confab app limit`). 0 means unlimited.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use prometheus_client::encoding::EncodeLabelSet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use confab_core::model::{App, AppId, Username};

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

/// Messages one user sends over the gateway, and all of an app's users together.
pub const GATEWAY_USER_MESSAGES_PER_SECOND: &str = "gateway.user_messages_per_second";
pub const GATEWAY_APP_MESSAGES_PER_SECOND: &str = "gateway.app_messages_per_second";

/// How long after sending a message the Easemob dialect may recall it (0: recall is off).
pub const EASEMOB_RECALL_WINDOW_SECS: &str = "easemob.recall_window_secs";
/// Largest Easemob message content (body and `ext`), in bytes: the REST
/// API counts them as JSON, msync as the `MessageBody` the SDK sends.
pub const EASEMOB_MAX_CONTENT_BYTES: usize = 3 * 1024;
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
        // confab's own: a person types far fewer than 10 a second; the app-wide
        // figure matches the Easemob REST ceiling for group messages times 50.
        (GATEWAY_USER_MESSAGES_PER_SECOND.to_owned(), 10),
        (GATEWAY_APP_MESSAGES_PER_SECOND.to_owned(), 1000),
    ])
}

type Limiter = Arc<DefaultDirectRateLimiter>;
/// A limiter and the limit it was built for.
type Bucket = (u32, Limiter);
/// One bucket per user of an app, and the limit they were built for.
type UserBuckets = (u32, Arc<DefaultKeyedRateLimiter<Username>>);

/// Per-user buckets kept before the idle ones are dropped.
const USER_BUCKETS_KEPT: usize = 100_000;

/// A refusal's label in `/metrics`: the limit's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: String,
}

pub struct RateLimits {
    defaults: BTreeMap<String, u32>,
    /// One token bucket per (app, limit), rebuilt when its setting changes.
    buckets: Mutex<HashMap<(AppId, &'static str), Bucket>>,
    /// Limits counted per user: one keyed limiter per (app, limit).
    per_user: Mutex<HashMap<(AppId, &'static str), UserBuckets>>,
    /// Failed authentications, by source address.
    pub failures: AuthFailures,
    /// Refusals by limit name, for `/metrics`.
    pub refusals: Family<LimitLabels, Counter>,
}

impl RateLimits {
    /// `failures_per_minute`: failed authentications one address may make (0: unlimited).
    pub fn new(defaults: BTreeMap<String, u32>, failures_per_minute: u32) -> RateLimits {
        RateLimits {
            defaults,
            buckets: Mutex::default(),
            per_user: Mutex::default(),
            failures: AuthFailures::new(failures_per_minute),
            refusals: Family::default(),
        }
    }

    /// Counts a refusal by `name` for `/metrics`; returns `allowed`.
    fn counted(&self, name: &'static str, allowed: bool) -> bool {
        if !allowed {
            self.refusals.get_or_create(&LimitLabels { limit: name.to_owned() }).inc();
        }
        allowed
    }

    /// Takes one unit from `user`'s own `name` bucket in the app; false when over the limit.
    pub fn allow_user(&self, app: &App, name: &'static str, per: Per, user: &Username) -> bool {
        let limit = self.value(app, name);
        let Some(rate) = NonZeroU32::new(limit) else {
            return true;
        };
        let limiter = {
            let mut all = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            let entry =
                all.entry((app.id, name)).or_insert_with(|| (limit, Arc::new(RateLimiter::keyed(quota(rate, per)))));
            if entry.0 != limit {
                *entry = (limit, Arc::new(RateLimiter::keyed(quota(rate, per))));
            }
            entry.1.clone()
        };
        if limiter.len() > USER_BUCKETS_KEPT {
            // Buckets that are full again say nothing a new one would not.
            limiter.retain_recent();
        }
        self.counted(name, limiter.check_key(user).is_ok())
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
            Some(n) => self.counted(name, matches!(limiter.check_n(n), Ok(Ok(())))),
        }
    }
}

fn bucket(rate: NonZeroU32, per: Per) -> Limiter {
    Arc::new(RateLimiter::direct(quota(rate, per)))
}

fn quota(rate: NonZeroU32, per: Per) -> Quota {
    match per {
        Per::Second => Quota::per_second(rate),
        Per::Minute => Quota::per_minute(rate),
        Per::Day => Quota::with_period(std::time::Duration::from_secs(86_400) / rate.get())
            .expect("a day divided by a positive count is positive")
            .allow_burst(rate),
    }
}

/// Addresses kept blocked or counted before the stale ones are dropped.
const ADDRESSES_KEPT: usize = 100_000;

/// Throttles failed authentications per source address, so that a stranger
/// who knows an app's name cannot spend that app's budget (it is charged
/// only after authentication) and cannot guess credentials quickly either.
/// An address over its budget is refused before any credential is checked,
/// until its bucket has refilled enough for one more try.
pub struct AuthFailures {
    /// `None`: unlimited.
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthFailures {
    fn new(per_minute: u32) -> AuthFailures {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        AuthFailures { limiter, blocked: Mutex::default() }
    }

    /// True when calls from `addr` are refused for now.
    pub fn blocked(&self, addr: IpAddr) -> bool {
        let key = subject(addr);
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&key) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                blocked.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Counts one failed authentication from `addr`; true when that puts it over its budget.
    pub fn record(&self, addr: IpAddr) -> bool {
        let Some(limiter) = &self.limiter else {
            return false;
        };
        let key = subject(addr);
        if limiter.len() > ADDRESSES_KEPT {
            limiter.retain_recent();
        }
        let Err(not_until) = limiter.check_key(&key) else {
            return false;
        };
        let wait = not_until.wait_time_from(limiter.clock().now());
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        if blocked.len() > ADDRESSES_KEPT {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
        blocked.insert(key, Instant::now() + wait.max(Duration::from_millis(1)));
        true
    }
}

/// What one client is, for counting: its address, or its /64 for IPv6 (one
/// host usually holds a whole /64).
pub fn subject(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{subject, AuthFailures};
    use std::net::IpAddr;

    #[test]
    fn failures_block_an_address_after_its_budget_and_not_its_neighbours() {
        let failures = AuthFailures::new(3);
        let stranger: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(!failures.record(stranger));
        }
        assert!(!failures.blocked(stranger));
        assert!(failures.record(stranger), "the fourth failure goes over");
        assert!(failures.blocked(stranger));
        assert!(!failures.blocked("10.0.0.2".parse().unwrap()));
        let unlimited = AuthFailures::new(0);
        assert!((0..1000).all(|_| !unlimited.record(stranger)));
    }

    #[test]
    fn an_ipv6_host_is_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(subject(a), subject(b));
        assert_ne!(subject(a), subject(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(subject(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
