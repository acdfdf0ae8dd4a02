//! Tracing set-up: `PODIUM_LOG` (an env-filter) picks what is logged; the
//! worker's own `log` records come through as tracing events.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("PODIUM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,mediasoup=warn,actix_server=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}
