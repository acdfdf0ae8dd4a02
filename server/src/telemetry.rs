//! Tracing set-up: `PODIUM_LOG` (an env-filter) picks what is logged; the
//! worker's own `log` records come through as tracing events.

use tracing_subscriber::EnvFilter;

pub fn init() {
    init_with_default("info,mediasoup=warn,actix_server=warn");
    log_panics();
}

/// A panic (a bug: a session's task ends, its peer leaves the room on the
/// way out) becomes one error event with its place, in the same log as the
/// rest, instead of the default hook's bare stderr lines.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            %place,
            thread = thread.name().unwrap_or("?"),
            %message,
            "panic: the task ends and releases what it held"
        );
    }));
}

/// As [`init`], with another filter when `PODIUM_LOG` is unset (tests: quieter).
pub fn init_with_default(filter: &str) {
    let filter = EnvFilter::try_from_env("PODIUM_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
