//! Peak memory of the running stage, for the metrics the study tabulates (train, benchmark).
//!
//! CPU: the process's peak resident set (`VmHWM` in `/proc/self/status`, Linux), libtorch
//! included. CUDA: this process's device memory as `nvidia-smi` reports it; read after the
//! work, it is the peak, because libtorch's caching allocator keeps what it reserved (plus
//! the CUDA context). libtorch's own allocator statistics are not reachable through tch.

/// Peak resident memory of this process in MB, if readable.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_mb(&status)
}

fn vm_hwm_mb(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// This process's GPU memory in MB, from nvidia-smi, if available.
pub fn gpu_mem_mb() -> Option<f64> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-compute-apps=pid,used_memory",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    process_mb(&String::from_utf8_lossy(&out.stdout), std::process::id())
}

fn process_mb(csv: &str, pid: u32) -> Option<f64> {
    let pid = pid.to_string();
    csv.lines().find_map(|l| {
        let mut cols = l.split(',').map(str::trim);
        (cols.next()? == pid)
            .then(|| cols.next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_from_proc_status() {
        let status = "Name:\tpipe\nVmPeak:\t  20480 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(vm_hwm_mb(status), Some(2.0));
        assert_eq!(vm_hwm_mb("Name:\tpipe\n"), None);
        // This test process has touched some memory.
        let mb = peak_rss_mb().expect("VmHWM on Linux");
        assert!(mb > 1.0 && mb < 1e6, "{mb}");
    }

    #[test]
    fn gpu_memory_is_this_process_row() {
        let csv = "4242, 1500\n77, 300\n";
        assert_eq!(process_mb(csv, 77), Some(300.0));
        assert_eq!(process_mb(csv, 4242), Some(1500.0));
        assert_eq!(process_mb(csv, 5), None);
        assert_eq!(process_mb("", 5), None);
    }
}
