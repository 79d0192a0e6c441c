//! The snapshot's own threads run at a low CPU priority.
//!
//! Archiving and writing a snapshot of 10 M positions keeps a core busy for over a
//! second, while the request path, the log's writer and its syncer want the same
//! cores (the machine this is tuned on has two). At the default priority the
//! scheduler lets the snapshot's threads run out their time slices while a request
//! waits, which is the longest pause a write sees during a snapshot. At a low
//! priority (a higher nice value) a waking request thread preempts them at once.
//! The copy of the state that writers wait on (`Engine::export_image`, shard by
//! shard under their locks) is not made on these threads: a low priority there
//! would leave a lock held while the holder waits for the CPU.

/// The nice value of the snapshot's archiving and writing threads. Raising one's
/// own nice value needs no privilege; a thread with it still gets
/// `weight(10) / weight(0)` ~ 1/10 of a contended core, so a snapshot under a
/// saturated request path slows down but is never starved.
pub const SNAPSHOT_THREAD_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`SNAPSHOT_THREAD_NICE`] (Linux; a
/// no-op elsewhere, or if the OS refuses: the snapshot is then only slower to let
/// requests through).
pub fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` has no preconditions.
        let thread = unsafe { libc::gettid() };
        // SAFETY: `setpriority` takes no pointers; on Linux, `PRIO_PROCESS` with a
        // thread id changes that thread alone.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, SNAPSHOT_THREAD_NICE) };
        if result != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower a snapshot thread's priority");
        }
    }
}
