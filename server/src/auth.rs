//! Join tokens: signed claims (room, user, display name, role, expiry) that
//! the admin API issues and the WebSocket checks. Format:
//! `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256("v1." + claims))>`.

use crate::config::Secret;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use podium_protocol::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Claims {
    pub room: RoomId,
    /// The caller's own id for the user (a login, an LMS id); shown to staff.
    pub user: String,
    pub name: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    pub fn validate(&self) -> Result<()> {
        check_text("user", &self.user, 128)?;
        check_text("name", &self.name, 64)?;
        Ok(())
    }
}

/// A user-supplied string: 1..=max characters, no control characters, no
/// bidi controls or invisible characters (a student named "\u{202e}rehcaeT"
/// must not read as "Teacher").
pub fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    let chars = value.chars().count();
    if chars == 0
        || chars > max
        || value.chars().any(|c| c.is_control() || is_deceptive(c))
        || value.trim().is_empty()
    {
        return Err(Error::BadRequest(format!(
            "{field} must be 1 to {max} printable characters (no bidi controls or invisible characters)"
        )));
    }
    Ok(())
}

/// Bidi controls, zero-width and other invisible format characters: they
/// reorder or hide what a reader sees.
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{061C}' // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' // zero-width, LRM, RLM
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, isolates, invisible operators
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}' // zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}' // tags
    )
}

#[derive(Clone)]
pub struct TokenKey(Secret);

impl TokenKey {
    pub fn new(secret: Secret) -> Self {
        Self(secret)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.0.expose().as_bytes())
            .expect("HMAC takes any key length")
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let payload = format!(
            "v1.{}",
            B64.encode(serde_json::to_vec(claims).expect("claims serialize"))
        );
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The claims of a well-signed, unexpired token; `now` in Unix seconds.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims> {
        let bad = || Error::Unauthorized("invalid token".into());
        let (payload, signature) = token.rsplit_once('.').ok_or_else(bad)?;
        let claims_b64 = payload.strip_prefix("v1.").ok_or_else(bad)?;
        let signature = B64.decode(signature).map_err(|_| bad())?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).map_err(|_| bad())?;
        let claims: Claims = B64
            .decode(claims_b64)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(bad)?;
        if claims.exp <= now {
            return Err(Error::Unauthorized("token expired".into()));
        }
        Ok(claims)
    }
}

/// Constant-time comparison for the admin key.
pub fn admin_key_matches(expected: &Secret, given: &str) -> bool {
    let (a, b) = (expected.expose().as_bytes(), given.as_bytes());
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn random_secret() -> Secret {
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().r#gen();
    Secret::new(B64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            room: RoomId::parse("math").unwrap(),
            user: "u1".into(),
            name: "Ada".into(),
            role: Role::Student,
            exp,
        }
    }

    fn key(s: &str) -> TokenKey {
        TokenKey::new(Secret::new(s))
    }

    #[test]
    fn issued_tokens_verify_until_expiry() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = k.issue(&claims(100));
        assert_eq!(k.verify(&token, 99).unwrap(), claims(100));
        let err = k.verify(&token, 100).unwrap_err();
        assert!(err.to_string().contains("expired"));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = k.issue(&claims(100));
        assert!(
            key("another-key-another-key-another-key")
                .verify(&token, 1)
                .is_err()
        );
        let mut forged = claims(100);
        forged.role = Role::Teacher;
        let forged_payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        let sig = token.rsplit_once('.').unwrap().1;
        assert!(k.verify(&format!("v1.{forged_payload}.{sig}"), 1).is_err());
        for junk in ["", ".", "v1..", "v2.e30.AAAA", "v1.%%%.%%%", "no-dots"] {
            assert!(k.verify(junk, 1).is_err(), "{junk}");
        }
    }

    #[test]
    fn names_refuse_bidi_and_invisible_characters() {
        for bad in [
            "\u{202e}rehcaeT",
            "Tea\u{200b}cher",
            "\u{2067}Ada",
            "Ada\u{feff}",
            "x\u{0007}",
            "   ",
        ] {
            assert!(check_text("name", bad, 64).is_err(), "{bad:?}");
        }
        for good in ["Ada Lovelace", "Zoë", "李雷", "محمد", "Ana-María O'Neil"] {
            assert!(check_text("name", good, 64).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn admin_key_comparison() {
        let s = Secret::new("admin-key-123");
        assert!(admin_key_matches(&s, "admin-key-123"));
        assert!(!admin_key_matches(&s, "admin-key-124"));
        assert!(!admin_key_matches(&s, "admin"));
        assert!(!admin_key_matches(&Secret::new(""), ""));
    }
}
