//! Allocator tuning every process applies before it serves.

/// argon2 allocates 19 MiB a hash. glibc raises its mmap threshold after the first such block
/// is freed, so later ones come from per-thread heaps and stay resident: a function's RSS grew by
/// 19 MiB per blocking thread (to 180 MB). A fixed threshold keeps large blocks mmapped, and
/// freeing one returns it to the system at once. Called by every process before serving.
pub fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes the allocator's own lock and changes tuning only.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
