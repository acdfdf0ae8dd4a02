use podium_server::app::Application;
use podium_server::auth::{Claims, Role, unix_now};
use podium_server::config::Config;
use podium_server::ids::RoomId;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    // Before any thread: egresses start and stop threads all day.
    podium_egress::limit_malloc_arenas();
    let file = config_path();
    let config = match Config::load(file.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("podium: {error}");
            return ExitCode::from(2);
        }
    };
    if std::env::args().any(|a| a == "--check") {
        return check(&config);
    }
    podium_server::telemetry::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the runtime starts");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "podium stopped");
            eprintln!("podium: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `podium --check [--config <file>]`: validates the configuration (and reads
/// the TLS files) without starting anything; says what it would serve.
fn check(config: &Config) -> ExitCode {
    if let Err(error) = podium_server::app::check_tls(config) {
        eprintln!("podium: {error}");
        return ExitCode::from(2);
    }
    let auth = &config.auth;
    let public = config
        .public_url()
        .ok()
        .flatten()
        .unwrap_or("(the listen address)");
    println!("config OK");
    println!(
        "  listen        {} ({})",
        config.http.listen,
        if config.http.tls_cert.is_empty() {
            "HTTP"
        } else {
            "HTTPS"
        }
    );
    println!("  public url    {public}");
    println!(
        "  dev mode      {}",
        if auth.dev_mode {
            "ON (local use only)"
        } else {
            "off"
        }
    );
    println!(
        "  admin API     {}",
        if auth.admin_key.is_empty() && !auth.dev_mode {
            "off (no auth.admin_key)"
        } else {
            "on"
        }
    );
    println!(
        "  token secret  {}",
        if auth.token_secret.is_empty() {
            "random per run (tokens die on restart)"
        } else {
            "set"
        }
    );
    println!(
        "  metrics       {}",
        if config.http.metrics_token.is_empty() {
            "admin key"
        } else {
            "metrics token"
        }
    );
    let workers = config.worker_count();
    println!("  workers       {workers}");
    let media = match (config.rtc.webrtc_server, config.webrtc_server_port(0)) {
        (false, _) => format!(
            "per-transport ports {}-{}",
            config.rtc.port_min, config.rtc.port_max
        ),
        (true, None) => format!(
            "one UDP+TCP port per worker, picked in {}-{}",
            config.rtc.port_min, config.rtc.port_max
        ),
        (true, Some(first)) => format!(
            "UDP+TCP {first}-{} (one per worker)",
            usize::from(first) + workers - 1
        ),
    };
    println!("  media ports   {media} on {}", config.rtc.listen_ip);
    let turn = &config.turn;
    match turn.urls.is_empty() {
        true => {
            println!("  TURN          none (students behind UDP-blocking firewalls cannot join)");
        }
        false => println!(
            "  TURN          {}{}",
            turn.urls.join(" "),
            if turn.relay_only { " (relay only)" } else { "" }
        ),
    }
    let listen_local = config.http_listen().is_ok_and(|a| a.ip().is_loopback());
    if !listen_local && config.public_url().ok().flatten().is_none() {
        println!("  warning: set http.public_url: issued links would name the listen address");
    }
    if listen_local && !auth.dev_mode && !config.http.trust_forwarded_for {
        println!(
            "  note: behind a reverse proxy on this host, set http.trust_forwarded_for: \
             else every client counts as 127.0.0.1 for limits.connections_per_ip"
        );
    }
    if !config.http.static_dir.is_dir() {
        println!(
            "  warning: no built pages in {}",
            config.http.static_dir.display()
        );
    }
    ExitCode::SUCCESS
}

/// `--config <file>` or `PODIUM_CONFIG`.
fn config_path() -> Option<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("PODIUM_CONFIG").map(PathBuf::from)
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(config).await?;
    let state = app.state();
    tracing::info!(url = %app.base_url(), workers = state.pool.len(), "podium listening");
    if state.config.auth.dev_mode {
        print_dev_links(&app);
    }
    let drain = Duration::from_secs(state.config.cluster.drain_secs);
    app.run_until(async move {
        shutdown_signal().await;
        if state.drain().await {
            tracing::info!(
                peers = state.peer_count(),
                max_secs = drain.as_secs(),
                "draining: no new rooms here, classes here go on (signal again to stop now)"
            );
            tokio::select! {
                () = drained(&state) => tracing::info!("drained: no one left"),
                () = tokio::time::sleep(drain) => tracing::info!("cluster.drain_secs over: stopping"),
                () = shutdown_signal() => {}
            }
        }
    })
    .await?;
    tracing::info!("podium stopped");
    Ok(())
}

/// Dev mode: links with ready tokens, so a newcomer can click through.
fn print_dev_links(app: &Application) {
    let state = app.state();
    let room = RoomId::parse("demo").expect("valid");
    let token = |role, name: &str| {
        state.tokens.issue(&Claims {
            room: room.clone(),
            user: name.to_lowercase(),
            name: name.to_owned(),
            role,
            exp: unix_now() + state.config.auth.token_ttl_secs,
        })
    };
    let base = app.base_url();
    println!("\nPodium is running in dev mode (tokens and keys below are for this run only):");
    println!(
        "  teacher  {base}/teacher.html#token={}",
        token(Role::Teacher, "Teacher")
    );
    println!(
        "  student  {base}/student.html#token={}  (one person per link: it is one user)",
        token(Role::Student, "Student")
    );
    println!(
        "  admin    {base}/admin.html#token={}&key={}",
        token(Role::Admin, "Admin"),
        state.admin_key.expose()
    );
    println!(
        "  or open  {base}/#dev={} and pick a room, a name and a role",
        state.dev_secret.expose()
    );
    println!(
        "  health   {base}/health    metrics {base}/metrics (Authorization: Bearer <admin key>)\n"
    );
}

/// Until no peer is left in this node's rooms.
async fn drained(state: &podium_server::state::AppState) {
    while state.peer_count() > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
