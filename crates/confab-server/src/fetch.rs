//! Server-side HTTP fetches (an import's `need_download`, and any later
//! outgoing call) go through one [`Fetcher`], so a request naming a URL can
//! never make confab reach its own host, the private network it runs in or a
//! cloud's metadata service.
//!
//! The check is made on the addresses a name resolves to, not on the name:
//! the fetcher resolves names itself and hands the connector only vetted
//! addresses, so a name that resolves to `127.0.0.1` (or changes its answer
//! between a check and the connect) gets nowhere. Addresses written in the
//! URL are checked before the request, and every redirect hop is checked the
//! same way. Proxies from the environment are not used: a proxy would make
//! the connection on confab's behalf, unchecked. Size and time are capped.
//!
//! An operator whose attachments live on a private network allows those
//! ranges explicitly (`CONFAB_FETCH_ALLOW_PRIVATE`, see [`FetchPolicy`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{redirect, Url};

/// How long a whole fetch may take, body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most redirects followed (each one checked like the first URL).
const MAX_REDIRECTS: usize = 5;

/// Which addresses outside the public internet a fetch may reach anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum FetchPolicy {
    /// Public addresses only (the default).
    #[default]
    PublicOnly,
    /// Also these ranges (whatever they hold, metadata addresses included
    /// if a range names them).
    Allow(Vec<IpNet>),
    /// Every address but the cloud metadata services: for a deployment
    /// whose attachments all live on its own network.
    AllButMetadata,
}

impl TryFrom<String> for FetchPolicy {
    type Error = String;

    fn try_from(raw: String) -> Result<FetchPolicy, String> {
        FetchPolicy::parse(&raw)
    }
}

impl FetchPolicy {
    /// Reads `CONFAB_FETCH_ALLOW_PRIVATE`: `all` (or `true`), or CIDR
    /// ranges and single addresses separated by commas; empty or `false`
    /// for none.
    pub fn parse(raw: &str) -> Result<FetchPolicy, String> {
        let raw = raw.trim();
        match raw {
            "" | "false" | "none" => return Ok(FetchPolicy::PublicOnly),
            "all" | "true" => return Ok(FetchPolicy::AllButMetadata),
            _ => {}
        }
        let mut ranges = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let range = match part.parse::<IpNet>() {
                Ok(range) => range,
                Err(_) => part
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("{part} is not an address or a CIDR range (or use all, or false)"))?,
            };
            ranges.push(range);
        }
        Ok(FetchPolicy::Allow(ranges))
    }

    /// Whether a fetch may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match self {
            FetchPolicy::AllButMetadata => !is_metadata(ip),
            FetchPolicy::Allow(ranges) if ranges.iter().any(|r| r.contains(&ip)) => true,
            FetchPolicy::Allow(_) | FetchPolicy::PublicOnly => is_public(ip),
        }
    }
}

/// An IPv4 address written as IPv6 (mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:ab.cd::`) is judged as the IPv4
/// address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let octets = v6.octets();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return IpAddr::V4(Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]));
    }
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    ip
}

/// The cloud metadata services (AWS, GCP, Azure, OpenStack on
/// 169.254.169.254; AWS's IPv6 fd00:ec2::254; Alibaba's 100.100.100.200).
fn is_metadata(ip: IpAddr) -> bool {
    const V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254);
    match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(100, 100, 100, 200),
        IpAddr::V6(v6) => v6 == V6,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// Whether `ip` (already [`canonical`]) is an ordinary internet address:
/// not this host, not a private, shared, link-local, reserved, documentation
/// or multicast range, not a metadata service.
fn is_public(ip: IpAddr) -> bool {
    if is_metadata(ip) {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            const NOT_PUBLIC: [([u8; 4], u32); 15] = [
                ([0, 0, 0, 0], 8),       // "this network", 0.0.0.0
                ([10, 0, 0, 0], 8),      // private
                ([100, 64, 0, 0], 10),   // carrier-grade NAT
                ([127, 0, 0, 0], 8),     // loopback
                ([169, 254, 0, 0], 16),  // link-local (metadata services)
                ([172, 16, 0, 0], 12),   // private
                ([192, 0, 0, 0], 24),    // IETF protocol assignments
                ([192, 0, 2, 0], 24),    // documentation
                ([192, 88, 99, 0], 24),  // 6to4 relay anycast
                ([192, 168, 0, 0], 16),  // private
                ([198, 18, 0, 0], 15),   // benchmarking
                ([198, 51, 100, 0], 24), // documentation
                ([203, 0, 113, 0], 24),  // documentation
                ([224, 0, 0, 0], 4),     // multicast
                ([240, 0, 0, 0], 4),     // reserved, broadcast
            ];
            !NOT_PUBLIC.iter().any(|(net, prefix)| in_v4(v4, *net, *prefix))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let not_public = v6.is_unspecified()
                || v6.is_loopback()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (first & 0xff00) == 0xff00 // multicast
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0100 && v6.segments()[1..4] == [0, 0, 0]) // discard-only 100::/64
                // IPv4-compatible ::a.b.c.d (deprecated) and the rest of ::/96
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0];
            !not_public
        }
    }
}

/// Why a fetch did not happen, in words fit for the caller's error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRefused(pub String);

impl std::fmt::Display for FetchRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a URL before it is fetched (or followed): http or https, and a
/// permitted address when the host is written as one. Names are checked
/// when they are resolved.
pub fn check_url(policy: &FetchPolicy, url: &Url) -> Result<(), FetchRefused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchRefused(format!("{url} is not an http(s) URL")));
    }
    let Some(host) = url.host_str() else {
        return Err(FetchRefused(format!("{url} names no host")));
    };
    // The URL parser has already normalised addresses (`2130706433`,
    // `0x7f.1` are `127.0.0.1` here); IPv6 ones keep their brackets.
    let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else {
        return Ok(());
    };
    if policy.permits(ip) {
        Ok(())
    } else {
        Err(FetchRefused(format!("{ip} is not an address confab fetches from")))
    }
}

/// Resolves names with the system resolver, then keeps only the addresses
/// the policy permits; none left is an error, so the connector never sees a
/// refused address.
struct VettingResolver {
    policy: Arc<FetchPolicy>,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is replaced by the connector; 0 is a placeholder.
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.permits(a.ip())).collect();
            if allowed.is_empty() {
                let refused = FetchRefused(match found.first() {
                    Some(a) => format!("{host} resolves to {}, not an address confab fetches from", a.ip()),
                    None => format!("{host} does not resolve"),
                });
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl std::error::Error for FetchRefused {}

/// The one HTTP client for server-side fetches.
pub struct Fetcher {
    policy: Arc<FetchPolicy>,
    client: reqwest::Client,
    /// The same client speaking only HTTP/2 (APNs accepts nothing else;
    /// over plain `http://` it uses prior knowledge, as a local stand-in does).
    http2: reqwest::Client,
}

/// Which HTTP a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    /// Whatever the server offers.
    Any,
    /// HTTP/2 only.
    Two,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> anyhow::Result<Fetcher> {
        let policy = Arc::new(policy);
        let for_redirects = policy.clone();
        let redirects = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(FetchRefused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            match check_url(&for_redirects, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(FetchRefused(format!("redirected: {refused}"))),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver { policy: policy.clone() }))
            .redirect(redirects)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .build()?;
        // Push providers answer without redirects; none is followed.
        let http2 = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver { policy: policy.clone() }))
            .redirect(redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .http2_prior_knowledge()
            .build()?;
        Ok(Fetcher { policy, client, http2 })
    }

    /// Starts a `GET` of `url` after checking it; the caller reads the body
    /// with its own size cap (the total time is capped here).
    pub async fn get(&self, url: &str) -> Result<reqwest::Response, FetchRefused> {
        let parsed = Url::parse(url).map_err(|e| FetchRefused(format!("{url} is not a URL: {e}")))?;
        check_url(&self.policy, &parsed)?;
        self.client.get(parsed).send().await.map_err(|e| FetchRefused(describe(&e)))
    }
}

impl Fetcher {
    /// `POST`s a JSON body to `url` after checking it; the status and body
    /// are the caller's to judge.
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<reqwest::Response, FetchRefused> {
        let body = serde_json::to_vec(body).map_err(|e| FetchRefused(e.to_string()))?;
        self.post(url, Http::Any, "application/json", body, &[]).await
    }
}

impl Fetcher {
    /// `POST`s a body of `content_type` with extra headers to `url` after
    /// checking it, over the HTTP `http` says. The status and body are the
    /// caller's to judge.
    pub async fn post(
        &self,
        url: &str,
        http: Http,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, FetchRefused> {
        let parsed = Url::parse(url).map_err(|e| FetchRefused(format!("{url} is not a URL: {e}")))?;
        check_url(&self.policy, &parsed)?;
        let client = match http {
            Http::Any => &self.client,
            Http::Two => &self.http2,
        };
        let mut request = client.post(parsed).header(reqwest::header::CONTENT_TYPE, content_type);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.body(body).send().await.map_err(|e| FetchRefused(describe(&e)))
    }
}

/// A reqwest error with its causes, so "refused: 127.0.0.1 is not …" is not
/// hidden behind "error sending request".
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_by_default() {
        let policy = FetchPolicy::PublicOnly;
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(!policy.permits(ip(refused)), "{refused}");
        }
        for allowed in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(policy.permits(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn operators_allow_ranges_explicitly() {
        assert_eq!(FetchPolicy::parse("").unwrap(), FetchPolicy::PublicOnly);
        assert_eq!(FetchPolicy::parse("false").unwrap(), FetchPolicy::PublicOnly);
        let all = FetchPolicy::parse("all").unwrap();
        assert!(all.permits(ip("127.0.0.1")) && all.permits(ip("10.0.0.1")));
        assert!(!all.permits(ip("169.254.169.254")) && !all.permits(ip("fd00:ec2::254")));
        let some = FetchPolicy::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        assert!(some.permits(ip("10.9.9.9")) && some.permits(ip("127.0.0.1")) && some.permits(ip("::ffff:127.0.0.1")));
        assert!(!some.permits(ip("127.0.0.2")) && !some.permits(ip("192.168.0.1")));
        assert!(some.permits(ip("8.8.8.8")));
        assert!(FetchPolicy::parse("10.0.0.0/33").is_err());
        assert!(FetchPolicy::parse("localhost").is_err());
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let policy = FetchPolicy::PublicOnly;
        let check = |u: &str| check_url(&policy, &Url::parse(u).unwrap());
        assert!(check("http://127.0.0.1:8080/x").is_err());
        assert!(check("http://2130706433/x").is_err(), "127.0.0.1 as one number");
        assert!(check("http://0x7f.1/x").is_err());
        assert!(check("http://[::1]/x").is_err());
        assert!(check("http://[::ffff:169.254.169.254]/x").is_err());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("ftp://8.8.8.8/x").is_err());
        assert!(check("https://8.8.8.8/x").is_ok());
        assert!(check("https://example.com/x").is_ok(), "names are checked when resolved");
    }
}
