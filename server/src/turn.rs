//! TURN credentials for browsers: the time-limited "TURN REST API" scheme that
//! coturn checks with `use-auth-secret` / `static-auth-secret`. Podium and the
//! TURN server share a secret, never a user list: the username is
//! `<expiry, Unix seconds>:<peer id>` and the password is
//! `base64(HMAC-SHA1(secret, username))`.

use crate::config::TurnConfig;
use crate::ids::PeerId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use podium_protocol::signaling::{IceServer, IceTransportPolicy};
use sha1::Sha1;

/// The username and credential valid until `expires` (Unix seconds) for `user`.
pub fn rest_credentials(secret: &str, user: &str, expires: u64) -> (String, String) {
    let username = format!("{expires}:{user}");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let credential = B64.encode(mac.finalize().into_bytes());
    (username, credential)
}

/// The ICE servers a peer's transport gets at `now` (Unix seconds): every
/// configured URL in one entry, with credentials for this peer. Empty without
/// TURN. The peer id, not the user's name, goes to the TURN server's logs.
pub fn ice_servers(config: &TurnConfig, peer: PeerId, now: u64) -> Vec<IceServer> {
    if config.urls.is_empty() {
        return Vec::new();
    }
    let (username, credential) = rest_credentials(
        config.secret.expose(),
        &peer.to_string(),
        now.saturating_add(config.ttl_secs),
    );
    vec![IceServer {
        urls: config.urls.clone(),
        username,
        credential,
    }]
}

pub fn ice_transport_policy(config: &TurnConfig) -> IceTransportPolicy {
    if config.relay_only {
        IceTransportPolicy::Relay
    } else {
        IceTransportPolicy::All
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    // Expected values from:
    //   printf '%s' "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
    #[test]
    fn credentials_match_openssl() {
        assert_eq!(
            rest_credentials("secret", "user", 0).1.len(),
            28,
            "base64 of a 20-byte digest"
        );
        let (username, credential) = rest_credentials(
            "podium-turn-test-secret",
            "5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70",
            1_700_000_000,
        );
        assert_eq!(username, "1700000000:5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70");
        assert_eq!(credential, "8kdFc1C8I5CeDzhe64X4jfg+oNA=");
    }

    #[test]
    fn ice_servers_carry_every_url_and_expire_after_the_ttl() {
        let peer: PeerId = "5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70".parse().unwrap();
        let mut config = TurnConfig {
            urls: Vec::new(),
            secret: Secret::new("podium-turn-test-secret"),
            ttl_secs: 3600,
            relay_only: false,
        };
        assert!(ice_servers(&config, peer, 1_699_996_400).is_empty());
        assert_eq!(ice_transport_policy(&config), IceTransportPolicy::All);
        config.urls = vec![
            "turn:turn.example.org:3478?transport=udp".into(),
            "turns:turn.example.org:443?transport=tcp".into(),
        ];
        config.relay_only = true;
        let servers = ice_servers(&config, peer, 1_699_996_400);
        assert_eq!(
            servers,
            vec![IceServer {
                urls: config.urls.clone(),
                username: "1700000000:5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70".into(),
                credential: "8kdFc1C8I5CeDzhe64X4jfg+oNA=".into(),
            }]
        );
        assert_eq!(ice_transport_policy(&config), IceTransportPolicy::Relay);
        let json = serde_json::to_value(&servers[0]).unwrap();
        assert!(json.get("credential").is_some() && json.get("urls").is_some());
    }
}
