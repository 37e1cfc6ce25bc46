//! Accepting and serving connections. `axum::serve` has no header-read
//! timeout, no connection cap and retries a failing `accept` at once, so a
//! few hundred silent connections could take every descriptor and shut
//! everyone out. Here each connection must be admitted (a cap in all and per
//! address), must send its headers in time, may not stall its body, and is
//! closed when idle; `accept` errors back off.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::EdgeSettings;
use crate::limits::subject;

/// Descriptors kept out of the connection budget for storage, files and listeners.
const RESERVED_DESCRIPTORS: usize = 128;
/// Longest pause after failed `accept`s (the pause doubles from 10 ms).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// How long a connection over the cap waits for the place of one it evicted.
const EVICTION_WAIT: Duration = Duration::from_millis(200);

/// The settings with their automatic values worked out.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_sessions: usize,
}

impl Limits {
    pub fn from_settings(settings: &EdgeSettings) -> Limits {
        let max_connections = match settings.max_connections {
            0 => descriptor_limit().saturating_sub(RESERVED_DESCRIPTORS).max(16),
            n => n,
        };
        let max_connections_per_ip = match settings.max_connections_per_ip {
            0 => (max_connections / 2).max(1),
            n => n,
        };
        let max_sessions = match settings.max_sessions {
            0 => max_connections,
            n => n,
        };
        Limits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(settings.body_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(settings.idle_timeout_secs.max(1)),
            max_connections,
            max_connections_per_ip,
            max_sessions,
        }
    }
}

/// The process's soft limit on open descriptors.
fn descriptor_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if read != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return 65_536;
    }
    usize::try_from(limit.rlim_cur).unwrap_or(65_536).min(1 << 20)
}

/// Admits connections: a permit from the global cap and a count for the address.
///
/// When every place is taken, a new connection evicts the oldest one that has
/// not yet sent a whole request: otherwise silent connections from many
/// addresses would shut everyone out until their header timeout, and come back.
pub struct Gate {
    total: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    per_ip_cap: usize,
    /// Connections that have not sent a whole request yet, oldest first.
    silent: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next_id: AtomicU64,
}

impl Gate {
    pub fn new(limits: &Limits) -> Arc<Gate> {
        Arc::new(Gate {
            total: Arc::new(Semaphore::new(limits.max_connections)),
            per_ip: Mutex::default(),
            per_ip_cap: limits.max_connections_per_ip,
            silent: Mutex::default(),
            next_id: AtomicU64::new(0),
        })
    }

    /// A place for a connection from `addr`, evicting the oldest silent
    /// connection when all are taken; `None` when the address has its share.
    async fn admit(self: &Arc<Self>, addr: IpAddr) -> Option<Admission> {
        let key = subject(addr);
        if self.per_ip.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied().unwrap_or(0) >= self.per_ip_cap {
            return None;
        }
        let permit = match self.total.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let oldest = self.silent.lock().unwrap_or_else(|e| e.into_inner()).pop_first();
                let (_, evict) = oldest?;
                evict.notify_one();
                tokio::time::timeout(EVICTION_WAIT, self.total.clone().acquire_owned()).await.ok()?.ok()?
            }
        };
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_ip.entry(key).or_default();
        if *count >= self.per_ip_cap {
            return None;
        }
        *count += 1;
        drop(per_ip);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(Notify::new());
        self.silent.lock().unwrap_or_else(|e| e.into_inner()).insert(id, evicted.clone());
        Some(Admission { gate: self.clone(), key, id, evicted, spoke: AtomicBool::new(false), _permit: permit })
    }
}

/// A connection's place under the caps, given back when its socket closes
/// (it travels with the socket, so an upgraded WebSocket keeps it).
struct Admission {
    gate: Arc<Gate>,
    key: IpAddr,
    id: u64,
    /// Told when a newer connection needs this one's place.
    evicted: Arc<Notify>,
    spoke: AtomicBool,
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// The connection sent a whole request: it is no longer one to evict.
    fn spoke(&self) {
        if !self.spoke.swap(true, Ordering::Relaxed) {
            self.gate.silent.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.spoke();
        let mut per_ip = self.gate.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.key);
            }
        }
    }
}

/// What the idle check reads: when a byte last moved, and how many requests are being handled.
struct Activity {
    epoch: Instant,
    last_io_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        self.last_io_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// A request being handled, for the idle check.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket with its admission and an activity clock.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _admission: Arc<Admission>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    gate: Arc<Gate>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::ZERO;
                accepted
            }
            Err(e) => {
                // Out of descriptors (or another passing failure): retrying at
                // once would spin; pausing lets connections close meanwhile.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                tracing::warn!("accept error: {e}; pausing {} ms", backoff.as_millis());
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => continue,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (gate, router, stop) = (gate.clone(), router.clone(), stop_rx.clone());
        connections.spawn(async move {
            let Some(admission) = gate.admit(peer.ip()).await else {
                // Closed at once: the descriptor is back before long.
                tracing::debug!(%peer, "connection refused: too many open connections");
                return;
            };
            serve_connection(stream, peer, Arc::new(admission), router, limits, stop).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    admission: Arc<Admission>,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let activity =
        Arc::new(Activity { epoch: Instant::now(), last_io_ms: AtomicU64::new(0), in_flight: AtomicUsize::new(0) });
    let io = TokioIo::new(Tracked { stream, activity: activity.clone(), _admission: admission.clone() });
    let evicted = admission.evicted.clone();
    let inner = TowerToHyperService::new(router);
    let body_timeout = limits.body_read_timeout;
    let requests = activity.clone();
    let speaker = admission.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        speaker.spoke();
        let mut request =
            request.map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body)));
        request.extensions_mut().insert(ConnectInfo(peer));
        let handling = InFlight::enter(&requests);
        let answer = hyper::service::Service::call(&inner, request);
        async move {
            let answer = answer.await;
            drop(handling);
            answer
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let idle_check = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(idle_check);
    let mut stopping = false;
    loop {
        tokio::select! {
            done = connection.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = evicted.notified() => {
                tracing::debug!(%peer, "closing a silent connection for a newer one");
                return;
            }
            _ = &mut idle_check => {
                let idle = activity.idle_for();
                if activity.in_flight.load(Ordering::Relaxed) == 0 && idle >= limits.idle_timeout {
                    tracing::debug!(%peer, "closing an idle connection");
                    return;
                }
                let next = limits.idle_timeout.saturating_sub(idle).max(Duration::from_millis(100));
                idle_check.as_mut().reset(tokio::time::Instant::now() + next);
            }
        }
    }
}
