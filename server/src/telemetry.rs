//! Tracing set-up: `PODIUM_LOG` (an env-filter) picks what is logged; the
//! worker's own `log` records come through as tracing events.

use tracing_subscriber::EnvFilter;

pub fn init() {
    init_with_default("info,mediasoup=warn,actix_server=warn");
}

/// As [`init`], with another filter when `PODIUM_LOG` is unset (tests: quieter).
pub fn init_with_default(filter: &str) {
    let filter = EnvFilter::try_from_env("PODIUM_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
