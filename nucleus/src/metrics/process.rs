//! Process metrics read from `/proc/self` at scrape time (Linux); elsewhere they are absent.

/// What a scrape reports about the process.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Process {
    pub(super) resident_bytes: Option<u64>,
    pub(super) virtual_bytes: Option<u64>,
    pub(super) cpu_seconds: Option<f64>,
    pub(super) open_fds: Option<u64>,
    pub(super) max_fds: Option<u64>,
    pub(super) start_time_seconds: Option<f64>,
    pub(super) threads: Option<u64>,
}

/// Clock ticks per second for `/proc` times. Linux has reported `USER_HZ = 100` to user
/// space on every architecture since 2.6, whatever the kernel's internal tick rate.
const TICKS_PER_SECOND: f64 = 100.0;
/// Page size for `statm`; 4 KiB on the platforms this server targets.
const PAGE_SIZE: u64 = 4096;

pub(super) fn read() -> Process {
    let mut process = Process::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // The command name (field 2) is in parentheses and may contain spaces: split after it.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // `rest` starts at field 3 (state), so field N is at index N - 3.
            let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
            if let (Some(utime), Some(stime)) = (field(14), field(15)) {
                process.cpu_seconds = Some((utime + stime) as f64 / TICKS_PER_SECOND);
            }
            process.threads = field(20);
            process.start_time_seconds = field(22).and_then(|ticks| {
                boot_time().map(|boot| boot as f64 + ticks as f64 / TICKS_PER_SECOND)
            });
        }
    }
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut pages = statm
            .split_whitespace()
            .map(|f| f.parse::<u64>().ok().map(|p| p * PAGE_SIZE));
        process.virtual_bytes = pages.next().flatten();
        process.resident_bytes = pages.next().flatten();
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        process.open_fds = Some(dir.count() as u64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        process.max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|soft| soft.parse().ok());
    }
    process
}

/// Seconds since the epoch at boot, from `/proc/stat`'s `btime`.
fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let p = super::read();
        assert!(p.resident_bytes.unwrap() > 0);
        assert!(p.open_fds.unwrap() >= 3);
        assert!(p.threads.unwrap() >= 1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = p.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
        assert!(p.cpu_seconds.unwrap() >= 0.0);
    }
}
