//! SQLite's own page cache, less one scan of all of it per commit.
//!
//! At the end of every write transaction SQLite asks its page cache to drop
//! the pages past the end of the database (`xTruncate`). The default cache
//! (`pcache1`) remembers the largest page number it ever held, and when that
//! is far beyond the limit it walks its whole hash table, every cached page.
//! SQLite's B-tree balancing, when it puts new sibling pages in page-number
//! order, parks a page for a moment under the number of the locking page
//! (the page holding byte 2^30, never a real page), so after nearly every
//! commit that split a page the cache believed it held page 262,145 and
//! walked all its pages. The writer inserts into several indexes with
//! random keys, so that was nearly every commit: with a warm 64 MiB cache,
//! 7 % of the server's CPU at half load (docs/benchmarks.md).
//!
//! This wraps the default cache (every method goes to it) and keeps a bound
//! of its own on the page numbers that may be in it: the largest number
//! created or moved to, not counting the locking page's once nothing is
//! parked there. A truncate below that bound is passed on; one above it
//! drops nothing in the default cache either, and is skipped. The bound only
//! ever over-estimates, so no page that should be dropped survives.
//!
//! [`install`] must run before any SQLite connection in the process exists
//! (`sqlite3_config` is refused, harmlessly, once SQLite has initialised).

use std::ffi::{c_int, c_uint, c_void};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// SQLite's default position of the locking byte (`PENDING_BYTE`).
const PENDING_BYTE: u32 = 0x4000_0000;

/// The default cache's methods, read when this wrapper is installed; `None`
/// when installing was refused (SQLite had initialised already).
static INNER: OnceLock<Option<Methods>> = OnceLock::new();

/// The default cache's methods table: function pointers and an argument
/// SQLite gives back to them, never read or written here.
struct Methods(ffi::sqlite3_pcache_methods2);

// SAFETY: the table is written once before it is shared, then only read;
// its argument pointer belongs to SQLite's default cache, which is
// threadsafe, and is only ever passed back to it.
unsafe impl Send for Methods {}
// SAFETY: as for `Send`.
unsafe impl Sync for Methods {}

/// Truncates this wrapper found nothing for and skipped (for the tests).
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// One cache: the default cache's handle, and the bound kept beside it.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    bound: Bound,
}

/// What may be in one cache: an upper bound on its page numbers, kept from
/// what SQLite asks of it. Every page SQLite makes comes from a fetch that
/// may create, or a move (rekey); nothing else adds a page.
struct Bound {
    /// The locking page's number at this cache's page size.
    locking_page: u32,
    /// No page numbered above this is in the cache, except the locking
    /// page's while `parked` is not zero.
    highest: AtomicU32,
    /// Pages moved to the locking page's number and not yet moved away.
    parked: AtomicU32,
}

impl Bound {
    fn new(page_size: u32) -> Bound {
        Bound {
            locking_page: PENDING_BYTE / page_size.max(1) + 1,
            highest: AtomicU32::new(0),
            parked: AtomicU32::new(0),
        }
    }

    /// A fetch that may create page `key`. Counted whether or not a page
    /// is made: the bound may be too high, never too low.
    fn fetching(&self, key: u32) {
        self.highest.fetch_max(key, Ordering::Relaxed);
    }

    /// A page moved from `old` to `new`.
    fn moving(&self, old: u32, new: u32) {
        if new == self.locking_page {
            self.parked.fetch_add(1, Ordering::Relaxed);
        } else {
            self.highest.fetch_max(new, Ordering::Relaxed);
        }
        if old == self.locking_page {
            // Saturating: a page dropped while parked leaves the count
            // high, which only keeps truncates going to the default cache.
            let _ = self.parked.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Whether a page numbered `limit` or above may be in the cache.
    fn holds_from(&self, limit: u32) -> bool {
        let parked_above = self.parked.load(Ordering::Relaxed) > 0 && self.locking_page >= limit;
        self.highest.load(Ordering::Relaxed) >= limit || parked_above
    }

    /// The default cache dropped every page numbered `limit` or above.
    fn truncated(&self, limit: u32) {
        self.highest.fetch_min(limit.saturating_sub(1), Ordering::Relaxed);
        if self.locking_page >= limit {
            self.parked.store(0, Ordering::Relaxed);
        }
    }
}

/// Puts the wrapper in front of SQLite's default page cache, once per
/// process. Returns whether it is in place: `false` when SQLite had already
/// initialised (a connection was opened earlier), which only costs speed.
pub fn install() -> bool {
    INNER
        .get_or_init(|| {
            let mut inner = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
            // SAFETY: SQLITE_CONFIG_GETPCACHE2 writes the current methods into
            // the struct it is given; it is refused after initialisation.
            let read = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, inner.as_mut_ptr()) };
            if read != ffi::SQLITE_OK {
                return None;
            }
            let methods = ffi::sqlite3_pcache_methods2 {
                iVersion: 1,
                pArg: std::ptr::null_mut(),
                xInit: Some(init),
                xShutdown: Some(shutdown),
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            // SAFETY: SQLite copies the struct; every method is defined below
            // and only calls the default cache's own, which `INNER` holds
            // before SQLite initialises and first calls any of them.
            let set = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &methods) };
            // SAFETY: written by SQLite above.
            (set == ffi::SQLITE_OK).then(|| Methods(unsafe { inner.assume_init() }))
        })
        .is_some()
}

/// Truncates skipped so far in this process.
pub fn skipped_truncates() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

fn inner() -> &'static ffi::sqlite3_pcache_methods2 {
    let installed = INNER.get().and_then(Option::as_ref);
    &installed.expect("SQLite calls the wrapper only once it is installed").0
}

/// # Safety
/// `p` is a cache [`create`] made and [`destroy`] has not freed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a Cache {
    // SAFETY: as the caller promises.
    unsafe { &*(p as *const Cache) }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    let inner = inner();
    // SAFETY: the default cache's own method with its own argument.
    inner.xInit.map_or(ffi::SQLITE_OK, |f| unsafe { f(inner.pArg) })
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    let inner = inner();
    if let Some(f) = inner.xShutdown {
        // SAFETY: the default cache's own method with its own argument.
        unsafe { f(inner.pArg) }
    }
}

unsafe extern "C" fn create(page_size: c_int, extra: c_int, purgeable: c_int) -> *mut ffi::sqlite3_pcache {
    let Some(make) = inner().xCreate else { return std::ptr::null_mut() };
    // SAFETY: the default cache's own method, with SQLite's arguments.
    let handle = unsafe { make(page_size, extra, purgeable) };
    if handle.is_null() {
        return handle;
    }
    let bound = Bound::new(u32::try_from(page_size).unwrap_or(1));
    let cache = Box::new(Cache { inner: handle, bound });
    Box::into_raw(cache).cast()
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: `p` is ours (SQLite passes back what `create` returned).
    let cache = unsafe { cache(p) };
    if let Some(f) = inner().xCachesize {
        // SAFETY: the default cache's method on its own handle.
        unsafe { f(cache.inner, pages) }
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as in `cachesize`.
    let cache = unsafe { cache(p) };
    // SAFETY: the default cache's method on its own handle.
    inner().xPagecount.map_or(0, |f| unsafe { f(cache.inner) })
}

unsafe extern "C" fn fetch(p: *mut ffi::sqlite3_pcache, key: c_uint, create: c_int) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as in `cachesize`.
    let cache = unsafe { cache(p) };
    if create != 0 {
        cache.bound.fetching(key);
    }
    let Some(f) = inner().xFetch else { return std::ptr::null_mut() };
    // SAFETY: the default cache's method on its own handle.
    unsafe { f(cache.inner, key, create) }
}

unsafe extern "C" fn unpin(p: *mut ffi::sqlite3_pcache, page: *mut ffi::sqlite3_pcache_page, discard: c_int) {
    // SAFETY: as in `cachesize`.
    let cache = unsafe { cache(p) };
    if let Some(f) = inner().xUnpin {
        // SAFETY: the default cache's method on its own handle and page.
        unsafe { f(cache.inner, page, discard) }
    }
}

unsafe extern "C" fn rekey(p: *mut ffi::sqlite3_pcache, page: *mut ffi::sqlite3_pcache_page, old: c_uint, new: c_uint) {
    // SAFETY: as in `cachesize`.
    let cache = unsafe { cache(p) };
    cache.bound.moving(old, new);
    if let Some(f) = inner().xRekey {
        // SAFETY: the default cache's method on its own handle and page.
        unsafe { f(cache.inner, page, old, new) }
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cachesize`.
    let cache = unsafe { cache(p) };
    if !cache.bound.holds_from(limit) {
        SKIPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if let Some(f) = inner().xTruncate {
        // SAFETY: the default cache's method on its own handle.
        unsafe { f(cache.inner, limit) }
    }
    cache.bound.truncated(limit);
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` is ours and SQLite never uses it after this call.
    let cache = unsafe { Box::from_raw(p.cast::<Cache>()) };
    if let Some(f) = inner().xDestroy {
        // SAFETY: the default cache's method on its own handle, last use.
        unsafe { f(cache.inner) }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as in `cachesize`.
    let cache = unsafe { cache(p) };
    if let Some(f) = inner().xShrink {
        // SAFETY: the default cache's method on its own handle.
        unsafe { f(cache.inner) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What SQLite may ask of a cache, over a few page numbers and the
    /// locking page's.
    #[derive(Debug, Clone)]
    enum Op {
        Create(u32),
        Move(usize, u32),
        ParkAndSwap(usize, usize),
        Drop(usize),
        Truncate(u32),
    }

    const PAGE: u32 = 4096;
    const LOCKING: u32 = PENDING_BYTE / PAGE + 1;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u32..64).prop_map(Op::Create),
            (any::<usize>(), prop_oneof![1u32..64, Just(LOCKING)]).prop_map(|(i, k)| Op::Move(i, k)),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Op::ParkAndSwap(i, j)),
            any::<usize>().prop_map(Op::Drop),
            (1u32..70).prop_map(Op::Truncate),
        ]
    }

    proptest! {
        /// A truncate is skipped only when no page at or above its limit
        /// is in the cache, whatever SQLite did before it.
        #[test]
        fn a_skipped_truncate_never_leaves_a_page_behind(ops in proptest::collection::vec(op(), 1..200)) {
            let bound = Bound::new(PAGE);
            // The cache's pages: key → how many (a model of the default cache).
            let mut pages: BTreeMap<u32, u32> = BTreeMap::new();
            let keys = |pages: &BTreeMap<u32, u32>| pages.keys().copied().collect::<Vec<_>>();
            let take = |pages: &mut BTreeMap<u32, u32>, key: u32| {
                let n = pages.get_mut(&key).unwrap();
                *n -= 1;
                if *n == 0 {
                    pages.remove(&key);
                }
            };
            for op in ops {
                match op {
                    Op::Create(key) => {
                        bound.fetching(key);
                        *pages.entry(key).or_default() += 1;
                    }
                    Op::Move(i, new) => {
                        let all = keys(&pages);
                        if all.is_empty() { continue; }
                        let old = all[i % all.len()];
                        bound.moving(old, new);
                        take(&mut pages, old);
                        *pages.entry(new).or_default() += 1;
                    }
                    Op::ParkAndSwap(i, j) => {
                        // What B-tree balancing does to put two pages in order.
                        let all = keys(&pages);
                        if all.is_empty() { continue; }
                        let (a, b) = (all[i % all.len()], all[j % all.len()]);
                        if a == b || a == LOCKING || b == LOCKING { continue; }
                        for (old, new) in [(a, LOCKING), (b, a), (LOCKING, b)] {
                            bound.moving(old, new);
                            take(&mut pages, old);
                            *pages.entry(new).or_default() += 1;
                        }
                    }
                    Op::Drop(i) => {
                        let all = keys(&pages);
                        if all.is_empty() { continue; }
                        take(&mut pages, all[i % all.len()]);
                    }
                    Op::Truncate(limit) => {
                        let above = pages.range(limit..).count();
                        if bound.holds_from(limit) {
                            pages.retain(|k, _| *k < limit);
                            bound.truncated(limit);
                        } else {
                            prop_assert_eq!(above, 0, "skipped a truncate at {} over {:?}", limit, pages);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn balancing_alone_does_not_make_a_commit_scan() {
        let bound = Bound::new(PAGE);
        for key in 1..=100 {
            bound.fetching(key);
        }
        for (old, new) in [(40, LOCKING), (90, 40), (LOCKING, 90)] {
            bound.moving(old, new);
        }
        assert!(!bound.holds_from(101), "nothing is past the end once the swap is done");
        assert!(bound.holds_from(100));
    }
}
