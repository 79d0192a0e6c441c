//! CPU time of this process, split by thread, from `/proc` (no libc needed).
//!
//! Each thread's time on CPU comes from `/proc/self/task/<tid>/schedstat` (first
//! field, nanoseconds); the user/system split of the whole process from
//! `/proc/self/stat` (clock ticks, assumed 100 Hz, the Linux default). Threads that
//! exit between two samples drop out of the sums: the bench starts and stops its
//! servers outside the measured windows, so none do.

use std::fs;

/// CPU time consumed so far, by class of thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    /// Every thread of the process, nanoseconds.
    pub all_ns: u64,
    /// The server's network thread (`stockd-net`, or `echo-net` for the echo).
    pub net_ns: u64,
    /// The bench's main thread: the client.
    pub client_ns: u64,
    /// The log's writer and syncer threads.
    pub wal_ns: u64,
    /// User and system time of the process, in clock ticks (for the system share).
    pub user_ticks: u64,
    pub system_ticks: u64,
    /// The whole machine (`/proc/stat`, every CPU), clock ticks: busy (not idle or
    /// waiting for I/O) and in all.
    pub machine_busy_ticks: u64,
    pub machine_ticks: u64,
}

impl CpuSample {
    /// What was consumed between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuSample) -> CpuSample {
        CpuSample {
            all_ns: self.all_ns.saturating_sub(earlier.all_ns),
            net_ns: self.net_ns.saturating_sub(earlier.net_ns),
            client_ns: self.client_ns.saturating_sub(earlier.client_ns),
            wal_ns: self.wal_ns.saturating_sub(earlier.wal_ns),
            user_ticks: self.user_ticks.saturating_sub(earlier.user_ticks),
            system_ticks: self.system_ticks.saturating_sub(earlier.system_ticks),
            machine_busy_ticks: self.machine_busy_ticks.saturating_sub(earlier.machine_busy_ticks),
            machine_ticks: self.machine_ticks.saturating_sub(earlier.machine_ticks),
        }
    }

    pub fn add(&mut self, other: &CpuSample) {
        self.all_ns += other.all_ns;
        self.net_ns += other.net_ns;
        self.client_ns += other.client_ns;
        self.wal_ns += other.wal_ns;
        self.user_ticks += other.user_ticks;
        self.system_ticks += other.system_ticks;
        self.machine_busy_ticks += other.machine_busy_ticks;
        self.machine_ticks += other.machine_ticks;
    }

    /// The share of the process's CPU time spent in the kernel (None when too few ticks
    /// were counted for a meaningful share).
    pub fn system_share(&self) -> Option<f64> {
        let ticks = self.user_ticks + self.system_ticks;
        (ticks >= 50).then(|| self.system_ticks as f64 / ticks as f64)
    }

    /// The share of the machine's CPU capacity that other processes (and the host,
    /// as steal) used meanwhile: 0 on an otherwise idle machine. Above a few percent the
    /// figures of that run are disturbed.
    pub fn others_share(&self) -> Option<f64> {
        if self.machine_ticks < 20 {
            return None;
        }
        let others_ns = (self.machine_busy_ticks * TICK_NS).saturating_sub(self.all_ns);
        Some(others_ns as f64 / (self.machine_ticks * TICK_NS) as f64)
    }
}

/// One clock tick of `/proc` (USER_HZ), assumed 100 Hz as on every Linux default.
const TICK_NS: u64 = 10_000_000;

/// Busy and total clock ticks of the whole machine so far.
pub fn machine_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return (0, 0) };
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let fields: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Waits (up to `patience`) until the machine has been less than 5% busy for half a
/// second, so that a run does not start in the middle of someone else's build. True if
/// it got quiet. Sleeps on the runtime (its connections keep sending keep-alives).
pub async fn wait_until_quiet(patience: std::time::Duration) -> bool {
    let started = std::time::Instant::now();
    loop {
        let (busy, total) = machine_ticks();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (busy_after, total_after) = machine_ticks();
        let share = (busy_after - busy) as f64 / (total_after - total).max(1) as f64;
        if share < 0.05 {
            return true;
        }
        if started.elapsed() >= patience {
            return false;
        }
    }
}

/// Reads the CPU time of every thread now (a few dozen small files: ~0.1 ms).
pub fn sample() -> CpuSample {
    let mut cpu = CpuSample::default();
    let main = std::process::id().to_string();
    if let Ok(tasks) = fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let path = task.path();
            let Some(ns) = fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|text| text.split_whitespace().next().and_then(|field| field.parse::<u64>().ok()))
            else {
                continue;
            };
            cpu.all_ns += ns;
            let comm = fs::read_to_string(path.join("comm")).unwrap_or_default();
            let comm = comm.trim();
            if task.file_name().to_string_lossy() == main {
                cpu.client_ns += ns;
            } else if comm == "stockd-net" || comm == "echo-net" {
                cpu.net_ns += ns;
            } else if comm.starts_with("stockd-wal") {
                cpu.wal_ns += ns;
            }
        }
    }
    (cpu.machine_busy_ticks, cpu.machine_ticks) = machine_ticks();
    if let Ok(stat) = fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may contain spaces): state is field 3,
        // utime field 14, stime field 15.
        if let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            cpu.user_ticks = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
            cpu.system_ticks = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        }
    }
    cpu
}

/// Resident set size of the process in MiB, from /proc/self/status.
pub fn resident_mib() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line["VmRSS:".len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}
