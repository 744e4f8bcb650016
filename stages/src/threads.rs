//! How many CPU threads a built-in uses: `PIPE_CPUS` (set by pipe's scheduler to the CPUs
//! the stage was granted) for both libtorch's intra-op pool and rayon's pool, so that stages
//! running side by side do not oversubscribe the machine. Without it, the libraries'
//! defaults (all cores) apply.

/// The granted CPU count, if the scheduler set one.
pub fn granted() -> Option<usize> {
    std::env::var("PIPE_CPUS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// Applies `PIPE_CPUS` to libtorch and rayon; call once before any parallel work.
pub fn configure() {
    if let Some(n) = granted() {
        tch::set_num_threads(n as i32);
        // Fails only if the global pool already exists (a second run in one process,
        // as in tests): it then keeps its size, which is harmless.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}
