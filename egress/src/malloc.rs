//! glibc's allocator and short-lived threads. Every egress runs GStreamer
//! streaming threads of its own; glibc gives threads their own heaps
//! ("arenas", up to 8 per core) and a heap freed by a thread that has gone
//! keeps its fragments: a server starting and stopping restreams and
//! recordings all day grew by about a megabyte each time (the egress bench's
//! `--cycles`: 1.2 MiB per start/live/stop cycle with glibc's defaults, flat
//! with two arenas), while no GStreamer object outlived its egress (the
//! `leaks` tracer finds none).

/// Limits glibc to two heaps (the main one and one shared by every other
/// thread). Call first in `main`, before any thread starts: heaps already
/// made stay. Does nothing on other C libraries.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; M_ARENA_MAX takes
    // effect for arenas created afterwards.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
