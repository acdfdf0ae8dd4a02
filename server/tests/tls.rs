//! With a certificate configured, the same port serves HTTPS and WSS.

mod common;

use common::app::{TestApp, config};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use podium_server::auth::Role;
use podium_testkit::cert;
use std::io::{Read, Write};
use std::net::TcpStream;

fn write_certificate(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = cert::self_signed("localhost");
    let (cert_path, key_path) = cert::write_pem(&cert, &key, dir);
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

/// One HTTP/1.1 request over TLS; returns the raw response.
fn https(addr: &str, request: &str) -> String {
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector.set_verify(SslVerifyMode::NONE); // self-signed test certificate
    let tcp = TcpStream::connect(addr).unwrap();
    let mut tls = connector.build().connect("localhost", tcp).unwrap();
    tls.write_all(request.as_bytes()).unwrap();
    let mut response = vec![0u8; 4096];
    let n = tls.read(&mut response).unwrap();
    String::from_utf8_lossy(&response[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_and_websocket_upgrades_over_tls() {
    let dir = std::env::temp_dir().join(format!("podium-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = write_certificate(&dir);
    let app = TestApp::with(config(&[
        ("PODIUM_HTTP__TLS_CERT", &cert),
        ("PODIUM_HTTP__TLS_KEY", &key),
    ]))
    .await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let addr = app.base.trim_start_matches("https://").to_owned();

    let token = app.token("secure", "Ada", Role::Teacher);
    let (health, upgrade) = tokio::task::spawn_blocking(move || {
        let health = https(&addr, "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let upgrade = https(
            &addr,
            &format!(
                "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Protocol: podium, podium.token.{token}\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ),
        );
        (health, upgrade)
    })
    .await
    .unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    assert!(upgrade.starts_with("HTTP/1.1 101"), "{upgrade}");
    assert!(
        upgrade
            .to_lowercase()
            .contains("sec-websocket-protocol: podium\r\n"),
        "the server picks the podium subprotocol: {upgrade}"
    );
    app.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_or_broken_certificate_stops_the_start_with_a_clear_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("podium-badtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    let empty = dir.join("empty.pem").display().to_string();
    for (cert, key, expect) in [
        (
            "/nonexistent/cert.pem",
            "/nonexistent/key.pem",
            "cannot read /nonexistent/cert.pem",
        ),
        (empty.as_str(), empty.as_str(), "holds no certificate"),
    ] {
        let config = config(&[
            ("PODIUM_HTTP__TLS_CERT", cert),
            ("PODIUM_HTTP__TLS_KEY", key),
        ]);
        let error = runtime
            .block_on(podium_server::app::Application::build(config))
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains(expect), "{error}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
