//! There is no Docker engine where tests run, so this checks what can be
//! checked without one: docker-compose.yml parses, its Podium environment is
//! a valid configuration, what the Dockerfiles copy exists, images run as
//! non-root users, compose's coturn and Podium share one TURN secret, and the
//! RTMP ingest's nginx.conf passes `nginx -t` with Debian's nginx-rtmp module.
//! The deployment files of docs/DEPLOY.md (docs/deploy/) too: the example
//! podium.toml validates, the nginx site passes `nginx -t`, the systemd unit
//! runs Podium unprivileged, and the coturn config is locked down.

use podium_testkit::cert;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    let compose = compose();
    let env = compose["services"]["podium"]["environment"]
        .as_mapping()
        .expect("podium has an environment map");
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

#[test]
fn compose_environment_is_a_valid_podium_configuration() {
    let vars = compose_podium_env();
    assert!(vars.iter().all(|(k, _)| k.starts_with("PODIUM_")));
    let config =
        podium_server::config::Config::load(None, vars).expect("compose's settings validate");
    assert!(
        config.auth.dev_mode,
        "compose is for trying Podium: dev mode on loopback"
    );
}

#[test]
fn what_the_dockerfiles_build_from_exists() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
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

/// `nginx -t` on `conf` (a whole nginx.conf); `None` when nginx is missing
/// outside the full test run.
fn nginx_t(conf: &Path, dir: &Path) -> Option<(bool, String)> {
    if Command::new("nginx").arg("-v").output().is_err() {
        // scripts/test installs nginx (scripts/setup --test); plain `cargo test` may lack it.
        assert!(
            std::env::var_os("PODIUM_FULL_TESTS").is_none(),
            "nginx is required for the full test run"
        );
        eprintln!("nginx not installed: skipping nginx -t");
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

#[test]
fn the_deploy_nginx_site_is_valid() {
    let site = read("docs/deploy/nginx-podium.conf");
    // It proxies the WebSocket and passes the client's address, and nothing
    // that would tell Podium its own host.
    assert!(site.contains("location = /ws"));
    assert!(site.contains("proxy_set_header Upgrade $http_upgrade;"));
    assert!(site.contains("proxy_set_header X-Forwarded-For $remote_addr;"));
    let directives: String = site
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!directives.to_lowercase().contains("x-forwarded-host"));
    assert!(!directives.contains("$proxy_add_x_forwarded_for"));

    let dir = std::env::temp_dir().join(format!("podium-nginx-site-{}", std::process::id()));
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
        assert!(ok, "{stderr}");
    }
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
