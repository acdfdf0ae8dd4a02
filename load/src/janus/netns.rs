//! The network namespace a Janus run lives in, made and removed by the tool.
//!
//! Why: Janus 1.1 gathers no ICE candidate on a loopback interface
//! (`src/ice.c`, `janus_ice_setup_local`: "Skip loopback interfaces"), so
//! 127.0.0.1 cannot carry its media; and this project's rule is that test
//! traffic goes only to loopback or to addresses the test itself created,
//! never to the machine's own interfaces (eth0), even though such traffic
//! would stay on the machine. So each run gets a namespace of its own with a
//! veth pair into it: Janus (HTTP and ICE) on the namespace's end, the bots
//! on the host's end, and nothing else on either.
//!
//! - Name: `podium-janus-<pid>-<n>` (`n` counts the namespaces of this
//!   process).
//! - Addresses: the /30 `10.254.<k>.0/30`, `.1` on the host's end and `.2`
//!   in the namespace. `k` starts at the pid modulo 256 and skips every /30
//!   that overlaps an address or a route of the host (`ip -4 addr`,
//!   `ip -4 route`). The host end is called `pjanus<k>h` (the namespace's
//!   `pjanus<k>n`): link names are unique on the host, so creating it is
//!   what claims `k`, and a parallel run that picked the same `k` gets
//!   "File exists" and moves on to the next.
//! - Removal on drop (also while a panic unwinds): the host end of the veth
//!   (which takes its peer along), then the namespace. A run killed outright
//!   (SIGKILL) leaves its namespace behind; the next [`Netns::create`]
//!   removes those whose process is gone and which hold no process.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Every namespace name starts so.
const PREFIX: &str = "podium-janus-";
/// Where the /30s are taken from: `10.254.<k>.0/30`.
const NET: [u8; 2] = [10, 254];
const PREFIX_LEN: u8 = 30;

/// This process's namespaces so far.
static COUNT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("{what} failed: cannot run `ip` ({source}); iproute2 is needed")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed{hint}: `ip {args}`: {stderr}")]
    Ip {
        what: &'static str,
        args: String,
        stderr: String,
        hint: &'static str,
    },
    #[error(
        "no free /30 in {}.{}.0.0/16 for the Janus namespace: each overlaps an address or \
         route of this host, or its veth name is taken",
        NET[0],
        NET[1]
    )]
    NoSubnet,
}

impl NetnsError {
    /// Another run (or anything else) already has this name.
    fn exists(&self) -> bool {
        matches!(self, NetnsError::Ip { stderr, .. } if stderr.contains("File exists"))
    }
}

/// Runs `ip args`; `what` names the step in the error.
fn ip(what: &'static str, args: &[&str]) -> Result<String, NetnsError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| NetnsError::Spawn { what, source })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let denied = stderr.contains("Operation not permitted") || stderr.contains("Permission denied");
    Err(NetnsError::Ip {
        what,
        args: args.join(" "),
        stderr,
        hint: if denied { ": not root?" } else { "" },
    })
}

/// A network namespace with a veth pair into it; removed when dropped.
#[derive(Debug)]
pub struct Netns {
    /// `podium-janus-<pid>-<n>`
    pub name: String,
    /// The veth's end on the host, and its end in the namespace.
    pub host_if: String,
    pub ns_if: String,
    /// The bots' address (host end) and Janus's (namespace end).
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
}

impl Netns {
    /// Makes the namespace, the veth pair and their addresses, and brings
    /// both ends and the namespace's `lo` up. Needs root (CAP_NET_ADMIN and
    /// CAP_SYS_ADMIN).
    pub fn create() -> Result<Netns, NetnsError> {
        sweep_stale();
        let pid = std::process::id();
        let name = format!("{PREFIX}{pid}-{}", COUNT.fetch_add(1, Ordering::Relaxed));
        ip("creating network namespace", &["netns", "add", &name])?;
        // From here on, dropping `ns` removes what was made.
        let mut ns = Netns {
            name,
            host_if: String::new(),
            ns_if: String::new(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            ns_ip: Ipv4Addr::UNSPECIFIED,
        };
        let taken = host_networks()?;
        let start = pid % 256;
        let mut claimed = None;
        for k in (0..256).map(|i| ((start + i) % 256) as u8) {
            let net = Ipv4Addr::new(NET[0], NET[1], k, 0);
            if taken.iter().any(|&t| overlaps(t, (net, PREFIX_LEN))) {
                continue;
            }
            let (host_if, ns_if) = (format!("pjanus{k}h"), format!("pjanus{k}n"));
            let made = ip(
                "creating the veth pair",
                &[
                    "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if, "netns",
                    &ns.name,
                ],
            );
            match made {
                Ok(_) => {
                    ns.host_if = host_if;
                    ns.ns_if = ns_if;
                    claimed = Some(k);
                    break;
                }
                Err(error) if error.exists() => continue,
                Err(error) => return Err(error),
            }
        }
        let k = claimed.ok_or(NetnsError::NoSubnet)?;
        ns.host_ip = Ipv4Addr::new(NET[0], NET[1], k, 1);
        ns.ns_ip = Ipv4Addr::new(NET[0], NET[1], k, 2);
        let host_cidr = format!("{}/{PREFIX_LEN}", ns.host_ip);
        let ns_cidr = format!("{}/{PREFIX_LEN}", ns.ns_ip);
        let what = "addressing the veth pair";
        ip(what, &["addr", "add", &host_cidr, "dev", &ns.host_if])?;
        ip(
            what,
            &["-n", &ns.name, "addr", "add", &ns_cidr, "dev", &ns.ns_if],
        )?;
        let what = "bringing the veth pair up";
        ip(what, &["link", "set", &ns.host_if, "up"])?;
        ip(what, &["-n", &ns.name, "link", "set", &ns.ns_if, "up"])?;
        ip(what, &["-n", &ns.name, "link", "set", "lo", "up"])?;
        tracing::info!(
            netns = %ns.name,
            host = %format!("{} {}", ns.host_if, ns.host_ip),
            inside = %format!("{} {}", ns.ns_if, ns.ns_ip),
            "network namespace for janus"
        );
        Ok(ns)
    }

    /// `ip netns exec <name> <program>`: `ip` enters the namespace and
    /// execs `program` in its own process (no fork), so the child's pid is
    /// the program's, and what `pre_exec` set (PR_SET_PDEATHSIG) holds for
    /// it.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth goes with the namespace once no process is left in it;
        // deleting the host end removes the pair now in any case.
        if !self.host_if.is_empty() {
            let _ = ip("removing the veth pair", &["link", "del", &self.host_if]);
        }
        if let Err(error) = ip("removing network namespace", &["netns", "del", &self.name]) {
            tracing::warn!(%error, "janus namespace left behind");
            eprintln!("podium-load: {error}");
        }
    }
}

fn pids_in(name: &str) -> Vec<u32> {
    ip(
        "listing the namespace's processes",
        &["netns", "pids", name],
    )
    .map(|out| {
        out.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// Removes the namespaces of runs that were killed before they could: the
/// process in the name is gone and no process is inside.
fn sweep_stale() {
    let Ok(list) = ip("listing network namespaces", &["netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(owner) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let owner_alive = Path::new(&format!("/proc/{owner}")).exists();
        if owner_alive || !pids_in(name).is_empty() {
            continue;
        }
        if ip("removing a stale namespace", &["netns", "del", name]).is_ok() {
            tracing::info!(netns = name, "removed a stale janus namespace");
        }
    }
}

/// The IPv4 networks on the host: its addresses (with their prefixes) and
/// its routes but the default one.
fn host_networks() -> Result<Vec<(Ipv4Addr, u8)>, NetnsError> {
    let addrs = ip(
        "listing the host's addresses",
        &["-4", "-o", "addr", "show"],
    )?;
    let routes = ip("listing the host's routes", &["-4", "route", "show"])?;
    let from_addrs = addrs.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == "inet")?;
        parse_cidr(words.next()?)
    });
    let from_routes = routes
        .lines()
        .filter_map(|line| parse_cidr(line.split_whitespace().next()?));
    Ok(from_addrs.chain(from_routes).collect())
}

/// `10.1.2.3/24` or `10.1.2.3` (a /32); `default` is no network here.
fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = text.split_once('/').unwrap_or((text, "32"));
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip.parse().ok()?, len))
}

/// Whether two networks share an address.
fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(a.0) & mask == u32::from(b.0) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_overlap_when_one_holds_the_other() {
        let net = |s: &str| parse_cidr(s).unwrap();
        assert!(overlaps(net("10.254.3.0/30"), net("10.254.3.2/32")));
        assert!(overlaps(net("10.254.3.0/30"), net("10.0.0.0/8")));
        assert!(!overlaps(net("10.254.3.0/30"), net("10.254.3.4/30")));
        assert!(!overlaps(net("10.254.3.0/30"), net("192.0.2.2/24")));
        assert!(overlaps(net("10.254.3.0/30"), net("0.0.0.0/0")));
        assert_eq!(parse_cidr("default"), None);
        assert_eq!(
            parse_cidr("10.254.3.1"),
            Some((Ipv4Addr::new(10, 254, 3, 1), 32))
        );
    }

    fn listed(name: &str) -> bool {
        let list = ip("listing", &["netns", "list"]).unwrap();
        list.lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    }

    fn link_exists(name: &str) -> bool {
        Command::new("ip")
            .args(["link", "show", name])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    #[ignore = "needs root: cargo test -p podium-load janus::netns -- --ignored"]
    fn a_namespace_has_its_addresses_and_goes_away_also_on_panic() {
        let ns = Netns::create().expect("a namespace");
        assert!(listed(&ns.name));
        assert!(ns.host_if.len() <= 15 && ns.ns_if.len() <= 15);
        let host = ip("", &["-4", "-o", "addr", "show", "dev", &ns.host_if]).unwrap();
        assert!(host.contains(&format!("{}/30", ns.host_ip)), "{host}");
        let inside = ip("", &["-n", &ns.name, "-4", "-o", "addr", "show"]).unwrap();
        assert!(inside.contains(&format!("{}/30", ns.ns_ip)), "{inside}");
        assert!(inside.contains("127.0.0.1/8"), "lo is up: {inside}");
        // A second one at the same time gets its own /30.
        let other = Netns::create().expect("a second namespace");
        assert_ne!(other.host_ip, ns.host_ip);
        let names = [ns.name.clone(), other.name.clone()];
        let links = [ns.host_if.clone(), other.host_if.clone()];
        drop((ns, other));
        for (name, link) in names.iter().zip(&links) {
            assert!(!listed(name), "{name} left behind");
            assert!(!link_exists(link), "{link} left behind");
        }

        let (name, link) = std::panic::catch_unwind(|| {
            let ns = Netns::create().expect("a namespace");
            let names = (ns.name.clone(), ns.host_if.clone());
            std::panic::panic_any(names);
        })
        .unwrap_err()
        .downcast::<(String, String)>()
        .map(|b| *b)
        .unwrap();
        assert!(!listed(&name), "{name} left behind after a panic");
        assert!(!link_exists(&link), "{link} left behind after a panic");
    }
}
