//! Where a destination may point. An egress is a server-side client that
//! anyone allowed to restream aims at a host and port of their choosing: left
//! unchecked it reaches inside the network (loopback, private ranges, cloud
//! metadata at 169.254.169.254) and, through its retries and error texts,
//! works as a port scanner. So before every connection attempt, the host is
//! resolved here and each address classified ([`forbidden_range`]); the
//! port must be one of [`NetworkPolicy::allow_ports`]; and only then is the
//! RTMP client started, bound to exactly the addresses checked (see
//! [`crate::pin`]). Hosts an operator lists in [`NetworkPolicy::allow_hosts`]
//! (an internal ingest) skip the address check.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// How long a name may take to resolve before the attempt counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A name resolver: host to addresses (blocking; run off the executor).
pub type Lookup = Arc<dyn Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync>;

/// Which destinations an egress may connect to.
#[derive(Clone)]
pub struct NetworkPolicy {
    /// Ports a destination may use (its explicit port, or the scheme's
    /// default: 1935 for rtmp, 443 for rtmps).
    pub allow_ports: Vec<u16>,
    allow_hosts: Vec<AllowedHost>,
    lookup: Lookup,
}

/// One `allow_hosts` entry: a host name or IP literal, matched exactly
/// (case-insensitively), with an optional port (`host:port`, `[v6]:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self {
            allow_ports: vec![1935, 443],
            allow_hosts: Vec::new(),
            lookup: Arc::new(system_lookup),
        }
    }
}

impl fmt::Debug for NetworkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkPolicy")
            .field("allow_ports", &self.allow_ports)
            .field("allow_hosts", &self.allow_hosts)
            .finish_non_exhaustive()
    }
}

impl NetworkPolicy {
    /// `allow_hosts` entries are `host`, `host:port`, an IPv6 literal, or
    /// `[v6]:port`. A listed host may resolve to any address (loopback and
    /// private included) and, without a port in its entry, use any port.
    pub fn new<S: AsRef<str>>(
        allow_ports: Vec<u16>,
        allow_hosts: impl IntoIterator<Item = S>,
    ) -> Result<Self, String> {
        let allow_hosts = allow_hosts
            .into_iter()
            .map(|entry| AllowedHost::parse(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if allow_ports.contains(&0) {
            return Err("port 0 is not a port".to_owned());
        }
        Ok(Self {
            allow_ports,
            allow_hosts,
            lookup: Arc::new(system_lookup),
        })
    }

    /// The default policy plus `hosts` allowed (tests: a local ingest).
    pub fn allowing<S: AsRef<str>>(hosts: impl IntoIterator<Item = S>) -> Self {
        let defaults = Self::default();
        Self::new(defaults.allow_ports, hosts).expect("valid allow_hosts entries")
    }

    /// Resolves names with `lookup` instead of the system resolver (tests).
    pub fn with_lookup(mut self, lookup: Lookup) -> Self {
        self.lookup = lookup;
        self
    }

    fn allowlisted(&self, host: &str, port: u16) -> bool {
        self.allow_hosts
            .iter()
            .any(|entry| entry.port.is_none_or(|p| p == port) && same_host(&entry.host, host))
    }

    /// Resolves `host` and checks it against the policy: the addresses the
    /// RTMP client may use for this attempt, a refusal, or a failed lookup.
    pub(crate) async fn vet(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, Vetting> {
        let allowlisted = self.allowlisted(host, port);
        if !allowlisted && !self.allow_ports.contains(&port) {
            return Err(Vetting::Refused(Refusal::Port { port }));
        }
        let addresses = match literal(host) {
            Some(ip) => vec![ip],
            // GLib answers these itself, without asking any resolver.
            None if is_localhost_name(host) => {
                vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
            }
            None => self.resolve(&host.to_ascii_lowercase()).await?,
        };
        if !allowlisted
            && let Some((ip, range)) = addresses
                .iter()
                .find_map(|ip| forbidden_range(*ip).map(|range| (ip, range)))
        {
            tracing::warn!(%host, %ip, range, "destination refused: not a public address");
            return Err(Vetting::Refused(Refusal::Address));
        }
        Ok(addresses)
    }

    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, Vetting> {
        let lookup = Arc::clone(&self.lookup);
        let name = host.to_owned();
        let task = tokio::task::spawn_blocking(move || lookup(&name));
        let mut addresses = match tokio::time::timeout(LOOKUP_TIMEOUT, task).await {
            Ok(Ok(Ok(addresses))) => addresses,
            Ok(Ok(Err(error))) => {
                tracing::debug!(%host, %error, "lookup failed");
                return Err(Vetting::Unresolved);
            }
            Ok(Err(_)) | Err(_) => return Err(Vetting::Unresolved),
        };
        let mut seen = Vec::new();
        addresses.retain(|ip| {
            let new = !seen.contains(ip);
            seen.push(*ip);
            new
        });
        if addresses.is_empty() {
            return Err(Vetting::Unresolved);
        }
        Ok(addresses)
    }
}

/// The outcome of a check that did not clear the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vetting {
    /// The policy forbids it: never retried.
    Refused(Refusal),
    /// The name did not resolve (now): an ordinary, retried failure.
    Unresolved,
}

/// Why a destination was refused. The messages are the same whatever lies
/// behind the address (nothing is ever connected to find out), so a refusal
/// says nothing about which ports or hosts are open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The port is not in `allow_ports`, and the host is not allowlisted for it.
    #[error("port {port} is not an allowed ingest port")]
    Port {
        /// The destination's port (as written, or the scheme's default).
        port: u16,
    },
    /// The host resolves to a non-public address ([`forbidden_range`]) and is not allowlisted.
    #[error("the ingest host is not allowed: it must resolve to public internet addresses only")]
    Address,
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let bad = || format!("{entry:?} is not a host, host:port or [IPv6]:port");
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
            };
            host.parse::<Ipv6Addr>().map_err(|_| bad())?;
            (host, port)
        } else if entry.parse::<Ipv6Addr>().is_ok() {
            (entry, None)
        } else {
            match entry.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad))
            .transpose()?;
        let name_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !name_ok {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

fn same_host(a: &str, b: &str) -> bool {
    match (literal(a), literal(b)) {
        (Some(a), Some(b)) => a == b,
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// An IP literal host (IPv6 with or without brackets).
pub(crate) fn literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// `localhost` and `*.localhost` (RFC 6761), which GLib maps to loopback.
fn is_localhost_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

fn system_lookup(host: &str) -> std::io::Result<Vec<IpAddr>> {
    Ok((host, 0u16)
        .to_socket_addrs()?
        .map(|addr| addr.ip())
        .collect())
}

/// The special-purpose range `ip` falls in, if any: every address an
/// egress must not reach unless its host is allowlisted. `None`: a public
/// unicast address.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        (0, _, _) => "this network (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) => "documentation (192.0.2.0/24)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (198, 51, 100) => "documentation (198.51.100.0/24)",
        (203, 0, 113) => "documentation (203.0.113.0/24)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    };
    Some(range)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Forms that carry an IPv4 address: judged by that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4).map(|_| "IPv4-mapped form of a forbidden IPv4 address");
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        );
        return forbidden_v4(v4).map(|_| "NAT64 form of a forbidden IPv4 address");
    }
    let range = if ip.is_unspecified() {
        "unspecified (::)"
    } else if ip.is_loopback() {
        "loopback (::1)"
    } else if segments[..6] == [0; 6] {
        "IPv4-compatible (::/96, deprecated)"
    } else if segments[0] & 0xe000 != 0x2000 {
        // Outside 2000::/3, the global unicast space: ULA (fc00::/7),
        // link-local (fe80::/10), site-local, multicast (ff00::/8), the
        // NAT64 local-use and discard prefixes, and what is unassigned.
        match segments[0] {
            0xfc00..=0xfdff => "unique local (fc00::/7)",
            0xfe80..=0xfebf => "link-local (fe80::/10)",
            0xff00..=0xffff => "multicast (ff00::/8)",
            _ => "not global unicast (outside 2000::/3)",
        }
    } else if segments[0] == 0x2001 && segments[1] < 0x0200 {
        "IETF protocol assignments, Teredo (2001::/23)"
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        "documentation (2001:db8::/32)"
    } else if segments[0] == 0x2002 {
        "6to4 (2002::/16)"
    } else if segments[0] == 0x3fff && segments[1] < 0x1000 {
        "documentation (3fff::/20)"
    } else {
        return None;
    };
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        let forbidden = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "3fff::1",
        ];
        for ip in forbidden {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(forbidden_range(parsed).is_some(), "{ip} must be refused");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "203.0.114.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ];
        for ip in public {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_range(parsed), None, "{ip} is public");
        }
    }

    #[test]
    fn allow_host_entries() {
        let ok = [
            ("127.0.0.1", "127.0.0.1", None),
            ("Ingest.Internal", "ingest.internal", None),
            ("ingest.internal:1935", "ingest.internal", Some(1935)),
            ("::1", "::1", None),
            ("[::1]", "::1", None),
            ("[::1]:8443", "::1", Some(8443)),
        ];
        for (entry, host, port) in ok {
            assert_eq!(
                AllowedHost::parse(entry).unwrap(),
                AllowedHost {
                    host: host.to_owned(),
                    port
                },
                "{entry}"
            );
        }
        for bad in ["", "a b", "host:0", "host:x", "[::1", "[nope]:1", "h/ost"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn policy(hosts: &[&str], table: &'static [(&'static str, &'static str)]) -> NetworkPolicy {
        NetworkPolicy::allowing(hosts.iter().copied()).with_lookup(Arc::new(move |host| {
            let found: Vec<IpAddr> = table
                .iter()
                .filter(|(name, _)| *name == host)
                .map(|(_, ip)| ip.parse().unwrap())
                .collect();
            if found.is_empty() {
                Err(std::io::Error::other("no such host"))
            } else {
                Ok(found)
            }
        }))
    }

    #[tokio::test]
    async fn vetting_resolves_and_checks_every_address() {
        const TABLE: &[(&str, &str)] = &[
            ("public.example", "93.184.216.34"),
            ("public.example", "2606:2800:220:1:248:1893:25c8:1946"),
            ("mixed.example", "93.184.216.34"),
            ("mixed.example", "10.0.0.5"),
            ("internal.example", "192.168.0.10"),
            ("ingest.internal", "10.1.2.3"),
        ];
        let open = policy(&["ingest.internal", "127.0.0.1:8935"], TABLE);
        let refused_address = Err(Vetting::Refused(Refusal::Address));
        let cases: Vec<(&str, u16, Result<usize, Vetting>)> = vec![
            ("public.example", 1935, Ok(2)),
            ("public.example", 443, Ok(2)),
            (
                "public.example",
                22,
                Err(Vetting::Refused(Refusal::Port { port: 22 })),
            ),
            ("mixed.example", 1935, refused_address.clone()),
            ("internal.example", 1935, refused_address.clone()),
            ("nowhere.example", 1935, Err(Vetting::Unresolved)),
            ("8.8.8.8", 1935, Ok(1)),
            ("127.0.0.1", 1935, refused_address.clone()),
            ("[::1]", 1935, refused_address.clone()),
            ("10.0.0.1", 443, refused_address.clone()),
            ("192.168.1.1", 1935, refused_address.clone()),
            ("169.254.169.254", 443, refused_address.clone()),
            ("localhost", 1935, refused_address.clone()),
            ("a.localhost", 1935, refused_address.clone()),
            // Allowlisted: any address; the port too unless the entry names one.
            ("ingest.internal", 1935, Ok(1)),
            ("INGEST.internal", 9999, Ok(1)),
            ("127.0.0.1", 8935, Ok(1)),
            (
                "127.0.0.1",
                8936,
                Err(Vetting::Refused(Refusal::Port { port: 8936 })),
            ),
            (
                "127.0.0.1",
                22,
                Err(Vetting::Refused(Refusal::Port { port: 22 })),
            ),
        ];
        for (host, port, expected) in cases {
            let got = open.vet(host, port).await.map(|a| a.len());
            assert_eq!(got, expected, "{host}:{port}");
        }
    }
}
