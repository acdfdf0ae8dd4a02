//! Start-up: workers, rooms, the HTTP server. `Application::build` binds and
//! reports its port, so tests run the real thing on port 0.

use crate::auth::{TokenKey, random_secret};
use crate::config::Config;
use crate::error::Result;
use crate::recording::Recordings;
use crate::restream::Restreams;
use crate::room::{RoomContext, Rooms};
pub use crate::state::{AppState, ConnectionSlot};
use crate::workers::WorkerPool;
use crate::{codecs, http};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

pub struct Application {
    server: Server,
    addr: SocketAddr,
    state: Arc<AppState>,
    tls: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot start mediasoup workers: {0}")]
    Workers(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("recording.dir {dir}: {source}")]
    Recordings { dir: String, source: std::io::Error },
    #[error("cannot join the cluster: {0}")]
    Cluster(podium_cluster::ClusterError),
}

impl Application {
    pub async fn build(mut config: Config) -> Result<Self, StartError> {
        config.validate()?;
        // Dev mode without secrets: random ones for this run (validated above:
        // outside dev mode both must be configured).
        if config.auth.token_secret.is_empty() {
            config.auth.token_secret = random_secret();
        }
        let admin_key = if config.auth.admin_key.is_empty() && config.auth.dev_mode {
            random_secret()
        } else {
            config.auth.admin_key.clone()
        };
        let dev_secret = match config.auth.dev_secret.is_empty() {
            true => random_secret(),
            false => config.auth.dev_secret.clone(),
        };
        if admin_key.is_empty() {
            tracing::warn!(
                "no auth.admin_key: the admin API is off and no join token can be issued"
            );
        }
        // A broken certificate fails the start before any worker runs.
        let tls_config = if config.http.tls_cert.is_empty() {
            None
        } else {
            Some(load_tls(&config.http.tls_cert, &config.http.tls_key)?)
        };
        let config = Arc::new(config);
        let (pool, mut died) = WorkerPool::start(&config)
            .await
            .map_err(StartError::Workers)?;
        let rooms = Arc::new(Rooms::new(Arc::new(RoomContext {
            pool: Arc::clone(&pool),
            config: Arc::clone(&config),
            media_codecs: codecs::media_codecs(&config.rtc.codecs),
            bans: Default::default(),
        })));
        let state = Arc::new(AppState {
            tokens: TokenKey::new(config.auth.token_secret.clone()),
            admin_key,
            dev_secret,
            config: Arc::clone(&config),
            pool,
            restreams: Restreams::new(&config, Arc::clone(&rooms)),
            recordings: Recordings::new(&config, Arc::clone(&rooms)).map_err(|source| {
                StartError::Recordings {
                    dir: config.recording.dir.display().to_string(),
                    source,
                }
            })?,
            rooms: Arc::clone(&rooms),
            connections: AtomicUsize::new(0),
            per_ip: Arc::default(),
            panic_next_request: Default::default(),
            public_base_url: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            cascade: std::sync::OnceLock::new(),
        });

        tokio::spawn(async move {
            while let Some(event) = died.recv().await {
                rooms.worker_died(event.slot).await;
            }
        });

        let listen = config.http_listen()?;
        let data = web::Data::from(Arc::clone(&state));
        let static_dir = config.http.static_dir.clone();
        if !static_dir.is_dir() {
            tracing::warn!(dir = %static_dir.display(), "no built pages: run scripts/setup to build client/");
        }
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::dev_mode_guard))
                .wrap(http::security_headers())
                .app_data(data.clone())
                .configure(|cfg| http::routes(cfg, &static_dir))
        })
        .disable_signals()
        .shutdown_timeout(5)
        .workers(2);
        let tls = tls_config.is_some();
        let bind_error = |source| StartError::Bind {
            addr: listen.to_string(),
            source,
        };
        let server = match tls_config {
            Some(tls_config) => server
                .bind_rustls_0_23(listen, tls_config)
                .map_err(bind_error)?,
            None => server.bind(listen).map_err(bind_error)?,
        };
        let addr = *server.addrs().first().expect("bound to one address");
        let own = format!("{}://{addr}", if tls { "https" } else { "http" });
        let public = config.public_url()?.map_or(own, str::to_owned);
        let _ = state.public_base_url.set(public.clone());
        if config.cluster.enabled() {
            let membership = crate::cluster::Membership::join(
                &config,
                addr.to_string(),
                public,
                Arc::clone(&state.rooms),
                Arc::clone(&state.pool),
            )
            .await
            .map_err(StartError::Cluster)?;
            let pipe = crate::room::PipeOptions {
                ip: config.pipe_ip(&membership.internal_addr()),
                srtp: config.cluster.pipe_srtp,
                ports: config.rtc.port_min..=config.rtc.port_max,
                send_buffer: config.rtc.udp_send_buffer,
                recv_buffer: config.rtc.udp_recv_buffer,
            };
            let cascade = crate::cascade::Cascade::new(
                Arc::clone(&membership),
                Arc::clone(&state.rooms),
                pipe,
                config.cluster.secret.expose().to_owned(),
            );
            let _ = state.cluster.set(membership);
            let _ = state.cascade.set(cascade);
        }
        Ok(Self {
            server: server.run(),
            addr,
            state,
            tls,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until `shutdown` resolves, then tells every peer, closes the
    /// rooms and the workers, and stops the HTTP server.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.await;
        tracing::info!(
            "shutting down: stopping restreams and recordings, telling peers, closing rooms and workers"
        );
        self.state.restreams.stop_all().await;
        self.state.recordings.stop_all().await;
        if let Some(cascade) = self.state.cascade.get() {
            cascade.stop();
        }
        if let Some(membership) = self.state.cluster.get() {
            membership.leave().await;
        }
        self.state.rooms.shut_down();
        // Let the writers flush the `closed` notifications.
        tokio::time::sleep(Duration::from_millis(300)).await;
        handle.stop(true).await;
        self.state.pool.close().await;
        server.await.map_err(std::io::Error::other)?
    }
}

/// Reads the configured certificate and key, if any (`podium --check`).
pub fn check_tls(config: &Config) -> Result<(), StartError> {
    if !config.http.tls_cert.is_empty() {
        load_tls(&config.http.tls_cert, &config.http.tls_key)?;
    }
    Ok(())
}

fn load_tls(cert: &str, key: &str) -> Result<rustls::ServerConfig, StartError> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| StartError::Tls(format!("cannot read {path}: {e}")))
    };
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Tls(format!("{cert}: {e}")))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!("{cert} holds no certificate")));
    }
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| StartError::Tls(format!("{key}: {e}")))?
        .ok_or_else(|| StartError::Tls(format!("{key} holds no private key")))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(e.to_string()))
}
