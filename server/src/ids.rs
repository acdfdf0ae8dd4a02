//! Typed ids. Peers and restreams get a random UUID; rooms are named by
//! whoever issues the join tokens, so a room id is a validated name.

use podium_egress::uuid_id;
use serde::{Deserialize, Serialize};
use std::fmt;

uuid_id!(
    /// One connection of one user to one room; a reconnect is a new peer.
    PeerId
);

/// A room's name: 1 to 64 of `a-z A-Z 0-9 - _ .`, as it appears in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

impl RoomId {
    pub fn parse(name: &str) -> Result<Self, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "room name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_validated() {
        assert!(RoomId::parse("math-101_a.b").is_ok());
        for bad in ["", "a b", "../etc", "é", &"x".repeat(65)] {
            assert!(RoomId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<RoomId>("\"no/slash\"").is_err());
    }

    #[test]
    fn peer_ids_round_trip() {
        let id = PeerId::new();
        assert_eq!(id.to_string().parse::<PeerId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }
}
