//! CPU time of this thread and of the whole process, for the harness's own cost per
//! request (the embedded server runs on threads of its own in the same process).

use std::time::Duration;

#[cfg(unix)]
fn clock(id: libc::clockid_t) -> Duration {
    let mut spec = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `spec` is a valid, writable timespec; the clock ids used are always present on Linux.
    let status = unsafe { libc::clock_gettime(id, &mut spec) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32)
}

/// CPU time used by the calling thread.
pub fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        clock(libc::CLOCK_THREAD_CPUTIME_ID)
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

/// CPU time used by the whole process (every thread).
pub fn process_cpu() -> Duration {
    #[cfg(unix)]
    {
        clock(libc::CLOCK_PROCESS_CPUTIME_ID)
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_clocks_advance_with_work() {
        let (thread, process) = (thread_cpu(), process_cpu());
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        // Read the thread's clock before the process's: the process has run at least
        // as long as this thread since the first reads, whatever happens in between.
        let thread_after = thread_cpu();
        let process_after = process_cpu();
        assert!(thread_after > thread);
        // The kernel settles the process clock per scheduler tick: allow one tick.
        let slack = Duration::from_millis(10);
        assert!(process_after + slack >= process + (thread_after - thread));
    }
}
