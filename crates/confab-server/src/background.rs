//! CPU-heavy background work, off the async runtime and behind the
//! requests.
//!
//! An hour's history file is a million messages or more turned into JSON
//! lines and compressed: about a minute of one core on this machine. Done on
//! a runtime worker, each page held that worker for milliseconds at a time,
//! and on two cores the sends' p99 doubled for the two minutes the file took
//! (docs/benchmarks.md). Here it runs on one thread of its own at a lower
//! scheduling priority (nice 10), so the kernel gives the cores to request
//! and session work first and to the file with what is left. Jobs run one at
//! a time, in order; the queue is bounded, so a caller waits rather than
//! piling work up.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting at most; a caller beyond that waits for room.
const QUEUE: usize = 8;
/// How much lower than the server's the thread's priority is (`nice`).
const NICENESS: i32 = 10;

static JOBS: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();

/// The thread, started on first use (`None` if it could not start).
fn jobs() -> Option<&'static mpsc::Sender<Job>> {
    JOBS.get_or_init(|| {
        let (sender, mut jobs) = mpsc::channel::<Job>(QUEUE);
        let started = std::thread::Builder::new().name("confab-background".into()).spawn(move || {
            lower_priority();
            // What a file's pages used goes back before the thread waits.
            while let Some(job) = confab_core::memory::next_or_idle(&mut jobs) {
                job();
            }
        });
        match started {
            Ok(_) => Some(sender),
            Err(e) => {
                tracing::warn!("cannot start the background thread, running its work on the runtime: {e}");
                None
            }
        }
    })
    .as_ref()
}

/// On Linux a thread has its own nice value; `setpriority` with ID 0 sets
/// the calling thread's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sets a scheduling attribute of the calling thread; no memory is involved.
        let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) } != 0;
        if failed {
            tracing::debug!("cannot lower the background thread's priority: {}", std::io::Error::last_os_error());
        }
    }
}

/// Runs `work` on the background thread and returns what it returned.
/// A panic in `work` is raised again here.
pub async fn run<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let Some(jobs) = jobs() else {
        return work();
    };
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = reply.send(outcome);
    });
    if let Err(mpsc::error::SendError(job)) = jobs.send(job).await {
        // The thread is gone (it never stops by itself): do the work here.
        job();
    }
    match answer.await {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the background thread dropped a job"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_background_thread_at_a_lower_priority() {
        let (name, nice) = run(|| {
            let name = std::thread::current().name().map(str::to_owned);
            // SAFETY: reads a scheduling attribute of the calling thread.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            (name, nice)
        })
        .await;
        assert_eq!(name.as_deref(), Some("confab-background"));
        // SAFETY: as above, for the test's own thread.
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(nice, (ours + NICENESS).min(19));
    }

    #[tokio::test]
    async fn a_panic_comes_back_to_the_caller_and_the_thread_goes_on() {
        let panicked = tokio::spawn(run(|| panic!("in a job"))).await;
        assert!(panicked.unwrap_err().is_panic());
        assert_eq!(run(|| 41 + 1).await, 42);
    }
}
