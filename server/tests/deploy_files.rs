//! There is no Docker engine where tests run, so this checks what can be
//! checked without one: docker-compose.yml parses, its Podium environment is
//! a valid configuration, what the Dockerfiles copy exists, and the RTMP
//! ingest's nginx.conf passes `nginx -t` with Debian's nginx-rtmp module.

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

#[test]
fn compose_environment_is_a_valid_podium_configuration() {
    let compose = compose();
    let env = compose["services"]["podium"]["environment"]
        .as_mapping()
        .expect("podium has an environment map");
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect();
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
