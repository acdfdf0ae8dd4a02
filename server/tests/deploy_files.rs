//! There is no Docker engine where tests run, so this checks what can be
//! checked without one: docker-compose.yml parses, each Podium service's
//! environment is a valid configuration (the cluster profile's two nodes share
//! their secrets and Redis, and no two services on the host network take the
//! same port), what the Dockerfiles copy exists, images run as non-root users,
//! compose's coturn and Podium share one TURN secret, and the RTMP ingest's
//! nginx.conf passes `nginx -t` with Debian's nginx-rtmp module.
//! The deployment files of docs/DEPLOY.md (docs/deploy/) too: the example
//! podium.toml validates, the nginx sites pass `nginx -t`, the systemd unit
//! runs Podium unprivileged, and the coturn config is locked down. The cluster
//! site runs for real: nginx, from the documented file without its TLS, in
//! front of two Podium servers.

mod common;

use common::app::{Client, TestApp, ws_request};
use podium_server::auth::Role;
use podium_server::config::Config;
use podium_server::ids::RoomId;
use podium_testkit::cert;
use serde_json::{Value, json};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn compose() -> serde_yaml::Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    serde_yaml::from_str(&text).expect("docker-compose.yml is YAML")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Compose's `${NAME:-default}` as `docker compose` expands it with NAME unset.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, default)| default));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Podium's environment in docker-compose.yml, interpolated.
fn compose_podium_env() -> Vec<(String, String)> {
    compose_env("podium")
}

/// A service's environment in docker-compose.yml, interpolated.
fn compose_env(service: &str) -> Vec<(String, String)> {
    let compose = compose();
    let env = compose["services"][service]["environment"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{service} has an environment map"));
    env.iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                interpolate(v.as_str().unwrap()),
            )
        })
        .collect()
}

/// `key=value` lines of a coturn config (`key` alone for flags).
fn coturn_options(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn option<'a>(options: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    options
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The user the final stage of a Dockerfile runs as.
fn final_user(dockerfile: &str) -> Option<String> {
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    last_stage
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .map(|u| u.trim().to_owned())
}

/// The services that run Podium (built from the repository's Dockerfile).
fn compose_podium_services() -> Vec<String> {
    let compose = compose();
    let names: Vec<String> = compose["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, service)| service["build"].as_str() == Some("."))
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"podium".to_owned()));
    names
}

/// A service's compose profiles (none: it starts with a plain `up`).
fn compose_profiles(service: &str) -> Vec<String> {
    compose()["services"][service]["profiles"]
        .as_sequence()
        .map(|p| p.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn compose_environment_is_a_valid_podium_configuration() {
    for service in compose_podium_services() {
        let vars = compose_env(&service);
        assert!(
            vars.iter().all(|(k, _)| k.starts_with("PODIUM_")),
            "{service}"
        );
        let config = Config::load(None, vars)
            .unwrap_or_else(|e| panic!("{service}: compose's settings validate: {e}"));
        assert!(
            config.auth.dev_mode,
            "{service}: compose is for trying Podium: dev mode on loopback"
        );
    }
    // A plain `docker compose up` starts what it always did.
    for service in ["podium", "coturn", "rtmp"] {
        assert!(
            compose_profiles(service).is_empty(),
            "{service} has a profile"
        );
    }
}

/// `--name value` of a command list.
fn argument(command: &serde_yaml::Value, name: &str) -> Option<String> {
    let args: Vec<&str> = command
        .as_sequence()?
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let at = args.iter().position(|a| *a == name)?;
    args.get(at + 1).map(|v| (*v).to_owned())
}

#[test]
fn compose_cluster_nodes_share_their_secrets_and_redis() {
    let compose = compose();
    let nodes: Vec<String> = compose_podium_services()
        .into_iter()
        .filter(|s| compose_profiles(s) == ["cluster"])
        .collect();
    assert_eq!(nodes, ["podium-a", "podium-b"]);
    assert_eq!(compose_profiles("redis"), ["cluster"]);
    let redis = &compose["services"]["redis"];
    assert_eq!(redis["network_mode"].as_str(), Some("host"));
    let bind = argument(&redis["command"], "--bind").expect("redis --bind");
    let port = argument(&redis["command"], "--port").expect("redis --port");
    assert_eq!(bind, "127.0.0.1", "Redis on loopback only");

    let configs: Vec<Config> = nodes
        .iter()
        .map(|n| Config::load(None, compose_env(n)).unwrap())
        .collect();
    for (name, config) in nodes.iter().zip(&configs) {
        let node = &compose["services"][name.as_str()];
        assert_eq!(node["network_mode"].as_str(), Some("host"), "{name}");
        assert!(
            node["depends_on"]["redis"].is_mapping(),
            "{name} waits for Redis"
        );
        let cluster = &config.cluster;
        assert!(cluster.enabled(), "{name} is in the cluster");
        assert!(
            cluster
                .redis_url
                .expose()
                .starts_with(&format!("redis://{bind}:{port}/")),
            "{name} uses compose's Redis"
        );
        assert_eq!(&cluster.node_id, name);
        assert_eq!(cluster.internal_addr, config.http.listen, "{name}");
        assert!(cluster.pipe_ip.parse::<std::net::IpAddr>().is_ok());
        assert!(!config.auth.token_secret.is_empty(), "{name}: token secret");
        assert!(!config.auth.admin_key.is_empty(), "{name}: admin key");
    }
    // Tokens, the admin key and the nodes' signatures work on every node.
    let [a, b] = &configs[..] else { unreachable!() };
    assert!(a.cluster.redis_url == b.cluster.redis_url, "redis_url");
    assert!(a.cluster.secret == b.cluster.secret, "cluster.secret");
    assert!(a.auth.token_secret == b.auth.token_secret, "token_secret");
    assert!(a.auth.admin_key == b.auth.admin_key, "admin_key");
    assert_ne!(a.http.listen, b.http.listen);
}

/// Ports a Podium service takes: its HTTP port and WebRTC servers' ports
/// (fixed), and rtc.port_min..=rtc.port_max (pipes and other transports).
fn podium_ports(config: &Config) -> (Vec<u32>, RangeInclusive<u32>) {
    let mut fixed = vec![u32::from(config.http_listen().unwrap().port())];
    fixed.extend(
        (0..config.worker_count()).filter_map(|w| config.webrtc_server_port(w).map(u32::from)),
    );
    (
        fixed,
        u32::from(config.rtc.port_min)..=u32::from(config.rtc.port_max),
    )
}

#[test]
fn compose_services_on_the_host_network_take_distinct_ports() {
    let compose = compose();
    // (service, fixed ports, port ranges it picks from)
    let mut services: Vec<(String, Vec<u32>, Vec<RangeInclusive<u32>>)> = Vec::new();
    for name in compose_podium_services() {
        let (fixed, range) = podium_ports(&Config::load(None, compose_env(&name)).unwrap());
        services.push((name, fixed, vec![range]));
    }
    let turn = coturn_options(&read("docker/coturn/turnserver.conf"));
    let port = |key| -> u32 { option(&turn, key)[0].parse().unwrap() };
    services.push((
        "coturn".into(),
        vec![port("listening-port")],
        vec![port("min-port")..=port("max-port")],
    ));
    let rtmp: Vec<u32> = read("docker/rtmp/nginx.conf")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("listen 127.0.0.1:"))
        .map(|p| p.trim_end_matches(';').parse().unwrap())
        .collect();
    assert_eq!(rtmp.len(), 2, "rtmp's RTMP and HLS ports");
    services.push(("rtmp".into(), rtmp, vec![]));
    let redis = argument(&compose["services"]["redis"]["command"], "--port").unwrap();
    services.push(("redis".into(), vec![redis.parse().unwrap()], vec![]));

    for (i, (name, fixed, ranges)) in services.iter().enumerate() {
        for (other, other_fixed, other_ranges) in &services[i + 1..] {
            for port in fixed {
                assert!(!other_fixed.contains(port), "{name} and {other}: {port}");
            }
            for (a, b) in [(fixed, other_ranges), (other_fixed, ranges)] {
                for port in a {
                    assert!(
                        !b.iter().any(|r| r.contains(port)),
                        "{name} and {other}: {port} in the other's range"
                    );
                }
            }
        }
    }
    // No two Podium services pick ports from overlapping ranges.
    let podium: Vec<_> = services
        .iter()
        .filter(|s| s.0.starts_with("podium"))
        .collect();
    for (i, (name, _, ranges)) in podium.iter().enumerate() {
        for (other, _, other_ranges) in &podium[i + 1..] {
            let (r, o) = (&ranges[0], &other_ranges[0]);
            assert!(
                r.end() < o.start() || o.end() < r.start(),
                "{name} {r:?} and {other} {o:?} overlap"
            );
        }
    }
}

#[test]
fn what_the_dockerfiles_build_from_exists() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if let Some(image) = service["image"].as_str() {
            // An official image, by a tag that names its major version.
            assert!(
                image
                    .split_once(':')
                    .is_some_and(|(_, tag)| tag != "latest"),
                "{name:?}: {image}"
            );
            continue;
        }
        let context = root().join(
            service["build"]
                .as_str()
                .unwrap_or_else(|| panic!("{name:?} builds")),
        );
        let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
        for line in dockerfile
            .lines()
            .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        {
            let source = line.split_whitespace().nth(1).unwrap();
            assert!(context.join(source).exists(), "{name:?}: {line}");
        }
    }
    // The Podium image builds as a fresh machine does.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("scripts/setup"));
    assert!(root().join("scripts/setup").exists());
}

#[test]
fn images_run_as_unprivileged_users() {
    for path in ["Dockerfile", "docker/coturn/Dockerfile"] {
        let user = final_user(&read(path)).unwrap_or_else(|| panic!("{path} sets no USER"));
        assert!(user != "root" && user != "0", "{path} runs as {user}");
    }
}

#[test]
fn compose_coturn_shares_podiums_turn_secret() {
    let compose = compose();
    let coturn = &compose["services"]["coturn"];
    assert_eq!(coturn["network_mode"].as_str(), Some("host"));
    let secret_arg = coturn["command"]
        .as_sequence()
        .expect("coturn has a command list")
        .iter()
        .filter_map(|a| a.as_str())
        .find_map(|a| a.strip_prefix("--static-auth-secret="))
        .expect("coturn gets --static-auth-secret");
    let config = podium_server::config::Config::load(None, compose_podium_env()).unwrap();
    assert_eq!(config.turn.secret.expose(), interpolate(secret_arg));
    let options = coturn_options(&read("docker/coturn/turnserver.conf"));
    assert!(option(&options, "use-auth-secret").len() == 1);
    let listen = option(&options, "listening-ip");
    let port = option(&options, "listening-port");
    assert!(!config.turn.urls.is_empty());
    for url in &config.turn.urls {
        let target = format!("{}:{}", listen[0], port[0]);
        assert!(url.contains(&target), "{url} points at coturn's {target}");
    }
}

#[test]
fn the_deploy_example_config_is_valid() {
    let path = root().join("docs/deploy/podium.toml");
    let secrets = [
        (
            "PODIUM_AUTH__TOKEN_SECRET",
            "0123456789abcdef0123456789abcdef-deploy",
        ),
        ("PODIUM_AUTH__ADMIN_KEY", "deploy-admin-key-0123456789"),
        ("PODIUM_TURN__SECRET", "deploy-turn-secret-0123456789"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let config = podium_server::config::Config::load(Some(&path), secrets).expect("valid");
    assert!(!config.auth.dev_mode);
    assert!(config.webrtc_server_port(0).is_some(), "fixed media ports");
    assert!(
        config
            .turn
            .urls
            .iter()
            .any(|u| u.starts_with("turns:") && u.contains(":443")),
        "TURN over TLS on 443 for networks that let out nothing else"
    );
    // The secrets come from the environment, not the file.
    let text = read("docs/deploy/podium.toml");
    for key in ["token_secret", "admin_key", "secret ="] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(key)),
            "{key} in podium.toml"
        );
    }
    // coturn relays to Podium's announced address and nowhere else.
    let options = coturn_options(&read("docs/deploy/turnserver.conf"));
    assert_eq!(option(&options, "use-auth-secret").len(), 1);
    assert_eq!(option(&options, "tls-listening-port"), ["443"]);
    assert_eq!(option(&options, "no-cli").len(), 1);
    assert_eq!(
        option(&options, "allowed-peer-ip"),
        [config.rtc.announced_ip.as_str()]
    );
    let denied = option(&options, "denied-peer-ip");
    for range in [
        "0.0.0.0-255.255.255.255",
        "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        assert!(denied.contains(&range), "turnserver.conf denies {range}");
    }
    assert_eq!(option(&options, "no-tcp-relay").len(), 1);
}

#[test]
fn the_systemd_unit_runs_podium_unprivileged() {
    let unit = read("docs/deploy/podium.service");
    let values = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(values("User"), ["podium"]);
    assert_eq!(values("Restart"), ["on-failure"]);
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(values(key), [value], "{key}");
    }
    let start = values("ExecStart");
    assert!(
        start[0].contains("--config /etc/podium/podium.toml"),
        "{start:?}"
    );
    assert!(values("ExecStartPre")[0].contains("--check"));
    assert_eq!(values("EnvironmentFile"), ["/etc/podium/secrets.env"]);
}

/// Whether nginx is installed; outside the full test run it may be missing.
fn nginx_installed() -> bool {
    if Command::new("nginx").arg("-v").output().is_err() {
        // scripts/test installs nginx (scripts/setup --test); plain `cargo test` may lack it.
        assert!(
            std::env::var_os("PODIUM_FULL_TESTS").is_none(),
            "nginx is required for the full test run"
        );
        eprintln!("nginx not installed: skipping");
        return false;
    }
    true
}

/// `nginx -t` on `conf` (a whole nginx.conf); `None` when nginx is missing
/// outside the full test run.
fn nginx_t(conf: &Path, dir: &Path) -> Option<(bool, String)> {
    if !nginx_installed() {
        return None;
    }
    let output = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(conf)
        .arg("-g")
        .arg(format!("pid {}/nginx.pid;", dir.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Some((
        output.status.success() && stderr.contains("test is successful"),
        stderr,
    ))
}

/// A site's lines that are not comments.
fn directives(site: &str) -> Vec<&str> {
    site.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Checks what a Podium site tells Podium: the WebSocket proxied, the
/// client's address passed, nothing that would tell Podium its own host.
fn check_proxy_headers(site: &str) {
    assert!(site.contains("location = /ws"));
    assert!(site.contains("proxy_set_header Upgrade $http_upgrade;"));
    assert!(site.contains("proxy_set_header X-Forwarded-For $remote_addr;"));
    let directives = directives(site).join("\n");
    assert!(!directives.to_lowercase().contains("x-forwarded-host"));
    assert!(!directives.contains("$proxy_add_x_forwarded_for"));
}

/// `nginx -t` on a site of docs/deploy/, with a self-signed certificate in
/// place of Let's Encrypt's.
fn site_passes_nginx_t(site: &str, name: &str) {
    let dir = std::env::temp_dir().join(format!("podium-nginx-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = cert::self_signed("class.example.org");
    cert::write_pem(&cert, &key, &dir);
    let site = site
        .replace(
            "/etc/letsencrypt/live/class.example.org/fullchain.pem",
            &dir.join("cert.pem").display().to_string(),
        )
        .replace(
            "/etc/letsencrypt/live/class.example.org/privkey.pem",
            &dir.join("key.pem").display().to_string(),
        );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "error_log {dir}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  include {dir}/site.conf;\n}}\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let result = nginx_t(&conf, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((ok, stderr)) = result {
        assert!(ok, "{name}: {stderr}");
    }
}

#[test]
fn the_deploy_nginx_site_is_valid() {
    let site = read("docs/deploy/nginx-podium.conf");
    check_proxy_headers(&site);
    site_passes_nginx_t(&site, "site");
}

#[test]
fn the_cluster_nginx_site_is_valid() {
    let site = read("docs/deploy/nginx-cluster.conf");
    check_proxy_headers(&site);
    let lines = directives(&site);
    assert!(lines.contains(&"least_conn;"));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("server ") && !l.ends_with('{'))
            .count(),
        2,
        "two nodes"
    );
    // Every request goes to the nodes' upstream, and never to /internal/.
    let passes: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("proxy_pass "))
        .collect();
    assert_eq!(passes.len(), 2);
    assert!(
        passes
            .iter()
            .all(|l| **l == "proxy_pass http://podium_nodes;")
    );
    let internal = site
        .find("location ^~ /internal/ {")
        .expect("/internal/ denied");
    assert!(site[internal..].lines().nth(1).unwrap().trim() == "return 404;");
    // Everything of the single-node site, with the nodes in place of 127.0.0.1:8080.
    let single = read("docs/deploy/nginx-podium.conf");
    for line in directives(&single) {
        let line = line.replace("http://127.0.0.1:8080", "http://podium_nodes");
        assert!(
            lines.contains(&line.as_str()),
            "nginx-cluster.conf lacks {line}"
        );
    }
    site_passes_nginx_t(&site, "cluster");
}

/// The cluster site as the test runs it, from the documented file: plain
/// HTTP on loopback ports (TLS taken out) in front of `nodes`.
fn cluster_site_for_test(nodes: [&str; 2], port: u16, redirect_port: u16) -> String {
    let mut site = read("docs/deploy/nginx-cluster.conf");
    for (from, to) in [
        ("listen 443 ssl;", format!("listen 127.0.0.1:{port};")),
        ("listen 80;", format!("listen 127.0.0.1:{redirect_port};")),
        ("server 10.0.0.11:8080 ", format!("server {} ", nodes[0])),
        ("server 10.0.0.12:8080 ", format!("server {} ", nodes[1])),
    ] {
        assert_eq!(
            site.matches(from).count(),
            1,
            "{from:?} in nginx-cluster.conf"
        );
        site = site.replace(from, &to);
    }
    let site: Vec<&str> = site
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("ssl_") && !l.starts_with("listen [::]")
        })
        .collect();
    let site = site.join("\n");
    assert!(!directives(&site).join("\n").contains("ssl"));
    site
}

/// nginx in the foreground, one process, everything under `dir`; killed
/// (and `dir` removed) on drop.
struct Nginx {
    child: std::process::Child,
    dir: PathBuf,
}

impl Nginx {
    async fn start(site: &str, port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "podium-nginx-run-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let d = dir.display();
        let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|t| format!("  {t}_temp_path {d}/{t};\n"))
            .collect();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n{temp}  include {d}/site.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut nginx = Self { child, dir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            let exited = nginx.child.try_wait().unwrap();
            if exited.is_some() || tokio::time::Instant::now() > deadline {
                panic!("nginx did not start ({exited:?}): {}", nginx.error_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TOKEN_SECRET: &str = "nginx-cluster-test-token-secret-0123456789";

/// docs/deploy/nginx-cluster.conf, run: nginx in front of two Podium servers
/// that share a token secret (dev mode off: it refuses proxied requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_nginx_site_balances_two_nodes() {
    if !nginx_installed() {
        return;
    }
    // Node a runs one mediasoup worker and node b two: /health tells them apart.
    let node = |workers| {
        common::app::config(&[
            ("PODIUM_AUTH__DEV_MODE", "false"),
            ("PODIUM_AUTH__TOKEN_SECRET", TOKEN_SECRET),
            ("PODIUM_AUTH__ADMIN_KEY", "nginx-cluster-test-admin-key"),
            ("PODIUM_RTC__WORKERS", workers),
        ])
    };
    let a = TestApp::with(node("1")).await;
    let b = TestApp::with(node("2")).await;
    let addr = |app: &TestApp| app.base.trim_start_matches("http://").to_owned();
    let (port, redirect_port) = (free_port(), free_port());
    let site = cluster_site_for_test([&addr(&a), &addr(&b)], port, redirect_port);
    let nginx = Nginx::start(&site, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Which node answered n requests to /health, by the order they came.
    let health_from = |n: usize| {
        let (http, url) = (http.clone(), format!("{base}/health"));
        async move {
            let mut nodes = String::new();
            for _ in 0..n {
                let response = http.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let health: Value = response.json().await.unwrap();
                nodes.push(match health["workers"]["total"].as_u64() {
                    Some(1) => 'a',
                    Some(2) => 'b',
                    _ => panic!("{health}"),
                });
            }
            nodes
        }
    };

    // Both nodes answer while no connection is open.
    let nodes = health_from(10).await;
    assert!(nodes.contains('a') && nodes.contains('b'), "{nodes}");
    let info: Value = http
        .get(format!("{base}/api/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "podium");

    // A WebSocket through nginx, with a token node a issued, joins on either
    // node; while it is open least_conn sends everything new to the other.
    let ws = format!("ws://127.0.0.1:{port}/ws");
    let token = |room, name| a.token(room, name, Role::Teacher);
    let mut one = Client::connect(ws_request(&ws, &token("lb-one", "Ada"))).await;
    one.ok("join", json!({})).await;
    let on = |app: &TestApp, room: &str| app.state.rooms.get(&RoomId::parse(room).unwrap()).is_ok();
    let (one_on, other) = match (on(&a, "lb-one"), on(&b, "lb-one")) {
        (true, false) => ('a', "b"),
        (false, true) => ('b', "a"),
        both => panic!("lb-one on a, b: {both:?}"),
    };
    let nodes = health_from(6).await;
    assert!(
        !nodes.contains(one_on),
        "{nodes}: {one_on} holds the socket"
    );
    let mut two = Client::connect(ws_request(&ws, &token("lb-two", "Bo"))).await;
    two.ok("join", json!({})).await;
    let other = if other == "a" { &a } else { &b };
    assert!(on(other, "lb-two"), "the second socket on the other node");
    one.ok("chat", json!({ "text": "through nginx" })).await;

    // The internal API answers nginx's 404, however the path is spelled.
    for path in [
        "/internal/cluster/rooms/lb-one/edges/x",
        "//internal/cluster/rooms/lb-one/edges/x",
        "/%69nternal/cluster/rooms/lb-one/edges/x",
    ] {
        let response = http.post(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("<center>nginx"), "{path}: {body}");
    }
    let direct = http
        .post(format!("{}/internal/cluster/rooms/lb-one/edges/x", a.base))
        .send()
        .await
        .unwrap();
    assert!(!direct.text().await.unwrap().contains("nginx"));

    // Port 80's server sends everyone to HTTPS.
    let response = http
        .get(format!("http://127.0.0.1:{redirect_port}/join?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(
        response.headers()["location"],
        "https://class.example.org/join?x=1"
    );

    one.close().await;
    two.close().await;
    assert!(nginx.error_log().lines().all(|l| !l.contains("[emerg]")));
    drop(nginx);
    a.stop().await;
    b.stop().await;
}

#[test]
fn the_ingest_nginx_conf_is_valid() {
    if Command::new("nginx").arg("-v").output().is_err() {
        // scripts/test installs nginx (scripts/setup --test); plain `cargo test` may lack it.
        assert!(
            std::env::var_os("PODIUM_FULL_TESTS").is_none(),
            "nginx is required for the full test run"
        );
        eprintln!("nginx not installed: skipping nginx -t");
        return;
    }
    let dir = std::env::temp_dir().join(format!("podium-nginx-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = root().join("docker/rtmp/nginx.conf");
    let output = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .arg("-g")
        .arg(format!("pid {}/nginx.pid;", dir.display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.contains("test is successful"),
        "{stderr}"
    );
}
