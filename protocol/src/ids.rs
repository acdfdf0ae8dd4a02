//! Typed ids: random UUIDs, shown and parsed as their hyphenated text, and
//! branded strings in TypeScript (a `PeerId` is not a `ProducerId`).

/// Declares a `Copy` id holding a random UUID: serde as its text, `Display`
/// and `FromStr`, and a TypeScript brand `string & { readonly __brand: "Name" }`.
/// Callers need `serde`, `uuid` and `ts-rs` (the server and egress use it
/// for their own ids too).
#[macro_export]
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A new random id.
            #[must_use]
            pub fn new() -> Self {
                Self(::uuid::Uuid::new_v4())
            }

            /// The id with this UUID (ids made elsewhere, e.g. by mediasoup).
            #[must_use]
            pub const fn from_uuid(uuid: ::uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn uuid(self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl ::ts_rs::TS for $name {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;

            fn name(_: &::ts_rs::Config) -> String {
                stringify!($name).to_owned()
            }

            fn inline(cfg: &::ts_rs::Config) -> String {
                <Self as ::ts_rs::TS>::name(cfg)
            }

            fn decl(_: &::ts_rs::Config) -> String {
                format!(
                    "type {} = string & {{ readonly __brand: \"{}\" }};",
                    stringify!($name),
                    stringify!($name)
                )
            }

            fn decl_concrete(cfg: &::ts_rs::Config) -> String {
                <Self as ::ts_rs::TS>::decl(cfg)
            }
        }
    };
}

uuid_id!(
    /// One connection of one user to one room; a reconnect is a new peer.
    PeerId
);

uuid_id!(
    /// A mediasoup producer (a track a peer sends).
    ProducerId
);

uuid_id!(
    /// A mediasoup consumer (a track a peer receives).
    ConsumerId
);

uuid_id!(
    /// A mediasoup WebRTC transport of a peer.
    TransportId
);

uuid_id!(
    /// One egress (a restream): one input pushed to one or more destinations.
    EgressId
);

uuid_id!(
    /// One destination of an egress. Stable across reconnects.
    DestinationId
);

uuid_id!(
    /// One recording: a file on the server's disk, and its record.
    RecordingId
);

#[cfg(test)]
mod tests {
    use super::*;
    use ts_rs::{Config, TS};

    #[test]
    fn ids_round_trip_as_text_and_are_branded_in_typescript() {
        let id = PeerId::new();
        assert_eq!(id.to_string().parse::<PeerId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        assert_eq!(
            PeerId::decl(&Config::new()),
            r#"type PeerId = string & { readonly __brand: "PeerId" };"#
        );
    }
}
