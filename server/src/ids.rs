//! Typed ids. Peers and restreams get a random UUID; rooms are named by
//! whoever issues the join tokens, so a room id is a validated name.

use serde::{Deserialize, Serialize};
use std::fmt;

pub use podium_protocol::PeerId;

/// mediasoup's ids and the protocol's are the same UUIDs, typed apart: the
/// room speaks mediasoup's, the wire the protocol's.
pub trait ToWire {
    /// The protocol's id type.
    type Wire;
    /// The same id, as the protocol types it.
    fn to_wire(self) -> Self::Wire;
}

/// The protocol's ids as mediasoup types them.
pub trait ToMedia {
    /// mediasoup's id type.
    type Media;
    /// The same id, as mediasoup types it.
    fn to_media(self) -> Self::Media;
}

macro_rules! media_ids {
    ($($name:ident),*) => {$(
        impl ToWire for mediasoup::prelude::$name {
            type Wire = podium_protocol::$name;
            fn to_wire(self) -> Self::Wire {
                podium_protocol::$name::from_uuid(self.into())
            }
        }

        impl ToMedia for podium_protocol::$name {
            type Media = mediasoup::prelude::$name;
            fn to_media(self) -> Self::Media {
                // mediasoup builds its ids only from text (or new ones).
                self.to_string().parse().expect("a UUID is a mediasoup id")
            }
        }
    )*};
}

media_ids!(ProducerId, ConsumerId, TransportId);

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
    fn media_ids_convert_both_ways() {
        let wire = podium_protocol::ProducerId::new();
        let media: mediasoup::prelude::ProducerId = wire.to_media();
        assert_eq!(media.to_string(), wire.to_string());
        assert_eq!(media.to_wire(), wire);
    }
}
