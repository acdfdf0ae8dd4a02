//! What /proc says about the server and this machine: CPU time of a process
//! and of its threads, resident memory, UDP socket drops. Parsers are pure
//! (tested on sample text); the readers are thin.

use serde::Serialize;
use std::fs;

/// USER_HZ on every Linux this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// Name and CPU seconds (user + system) from a `stat` line of /proc.
pub fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / TICKS_PER_SECOND))
}

/// VmRSS of a `status` file, in kB.
pub fn parse_rss_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds of a whole process.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|(_, s)| s)
}

/// Resident memory of a process, in MB.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let kb = parse_rss_kb(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)?;
    Some(kb as f64 / 1024.0)
}

/// Every thread of a process: (tid, name, CPU seconds).
pub fn threads(pid: u32) -> Vec<(u32, String, f64)> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out: Vec<_> = dir
        .flatten()
        .filter_map(|entry| {
            let tid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            let (comm, cpu) = parse_stat(&stat)?;
            Some((tid, comm, cpu))
        })
        .collect();
    out.sort_by_key(|(tid, _, _)| *tid);
    out
}

/// Busy time of all CPUs from the `cpu` line of /proc/stat (everything but
/// idle and iowait) and, of it, softirq time (network delivery) and steal
/// time (the hypervisor ran someone else), in seconds.
pub fn parse_machine_busy(stat: &str) -> Option<(f64, f64, f64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is within user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    let softirq = *ticks.get(6).unwrap_or(&0);
    let steal = *ticks.get(7).unwrap_or(&0);
    Some((
        (total - idle) as f64 / TICKS_PER_SECOND,
        softirq as f64 / TICKS_PER_SECOND,
        steal as f64 / TICKS_PER_SECOND,
    ))
}

pub fn machine_busy_seconds() -> Option<(f64, f64, f64)> {
    parse_machine_busy(&fs::read_to_string("/proc/stat").ok()?)
}

/// One row of /proc/net/udp: the local port, bytes waiting, datagrams dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpSocket {
    pub local_port: u16,
    pub rx_queue: u64,
    pub inode: u64,
    pub drops: u64,
}

pub fn parse_net_udp(text: &str) -> Vec<UdpSocket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let rx_queue = u64::from_str_radix(f.get(4)?.rsplit(':').next()?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            let drops = f.last()?.parse().ok()?;
            Some(UdpSocket {
                local_port: port,
                rx_queue,
                inode,
                drops,
            })
        })
        .collect()
}

pub fn udp_sockets() -> Vec<UdpSocket> {
    fs::read_to_string("/proc/net/udp")
        .map(|t| parse_net_udp(&t))
        .unwrap_or_default()
}

/// Inodes of the sockets a process holds (from its `/proc/<pid>/fd` links).
pub fn socket_inodes(pid: u32) -> std::collections::HashSet<u64> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Default::default();
    };
    dir.flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|target| parse_socket_link(target.to_str()?))
        .collect()
}

/// `socket:[12345]` -> 12345.
pub fn parse_socket_link(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Kernel-wide UDP counters of /proc/net/snmp that say datagrams were lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UdpErrors {
    pub in_errors: u64,
    pub rcvbuf_errors: u64,
    pub sndbuf_errors: u64,
}

impl UdpErrors {
    pub fn since(&self, earlier: &UdpErrors) -> UdpErrors {
        UdpErrors {
            in_errors: self.in_errors.saturating_sub(earlier.in_errors),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(earlier.rcvbuf_errors),
            sndbuf_errors: self.sndbuf_errors.saturating_sub(earlier.sndbuf_errors),
        }
    }
}

pub fn parse_snmp_udp(text: &str) -> Option<UdpErrors> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some(UdpErrors {
        in_errors: get("InErrors")?,
        rcvbuf_errors: get("RcvbufErrors")?,
        sndbuf_errors: get("SndbufErrors")?,
    })
}

pub fn udp_errors() -> UdpErrors {
    fs::read_to_string("/proc/net/snmp")
        .ok()
        .and_then(|t| parse_snmp_udp(&t))
        .unwrap_or_default()
}

/// The machine a run happened on, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gb: f64,
    pub kernel: String,
    pub os: String,
}

impl Machine {
    pub fn here() -> Machine {
        let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_kb = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            memory_gb: (memory_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            os,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_spaces_and_parens_in_the_name() {
        let line = "4242 (mediasoup-worke) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(("mediasoup-worke".into(), 4.0)));
        let odd = "7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 1 2 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c".into(), 0.03)));
        assert_eq!(parse_stat("nonsense"), None);
    }

    #[test]
    fn rss_from_status() {
        let status = "Name:\tpodium\nVmPeak:\t  9000 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n";
        assert_eq!(parse_rss_kb(status), Some(123_456));
        assert_eq!(parse_rss_kb("Name: x\n"), None);
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link("socket:[4242]"), Some(4242));
        assert_eq!(parse_socket_link("/dev/null"), None);
        assert_eq!(parse_socket_link("pipe:[1]"), None);
    }

    #[test]
    fn machine_busy_time() {
        let stat = "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some((1.67, 0.02, 0.07)));
        assert_eq!(parse_machine_busy("intr 1 2 3"), None);
    }

    #[test]
    fn net_udp_rows() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
           12: 0100007F:9C41 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 123 2 0000000000000000 17\n";
        let rows = parse_net_udp(text);
        assert_eq!(
            rows,
            vec![UdpSocket {
                local_port: 0x9C41,
                rx_queue: 0xA00,
                inode: 123,
                drops: 17
            }]
        );
    }

    #[test]
    fn snmp_udp_counters() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
            Udp: 100 2 7 50 5 1 0 0 0\n";
        let errors = parse_snmp_udp(text).unwrap();
        assert_eq!(
            errors,
            UdpErrors {
                in_errors: 7,
                rcvbuf_errors: 5,
                sndbuf_errors: 1
            }
        );
        let later = UdpErrors {
            in_errors: 10,
            rcvbuf_errors: 9,
            sndbuf_errors: 1,
        };
        assert_eq!(later.since(&errors).rcvbuf_errors, 4);
    }
}
