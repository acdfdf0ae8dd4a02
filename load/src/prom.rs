//! The few figures the tool reads from the server's /metrics (Prometheus
//! text format): per-worker CPU seconds and peers, and the room totals.

use std::collections::BTreeMap;

/// The samples of one metric: label set (as written, without braces) and value.
pub fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            (metric == name).then_some(())?;
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// The value of `key` in a label set such as `worker="1",x="y"`.
pub fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// A metric labelled by worker, as worker slot → value.
pub fn per_worker(text: &str, name: &str) -> BTreeMap<usize, f64> {
    samples(text, name)
        .into_iter()
        .filter_map(|(labels, v)| Some((label(labels, "worker")?.parse().ok()?, v)))
        .collect()
}

/// An unlabelled metric.
pub fn scalar(text: &str, name: &str) -> Option<f64> {
    samples(text, name)
        .into_iter()
        .find(|(labels, _)| labels.is_empty())
        .map(|(_, v)| v)
}

/// What one scrape of /metrics says.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub worker_cpu_seconds: BTreeMap<usize, f64>,
    pub worker_peers: BTreeMap<usize, f64>,
    pub worker_restarts: f64,
    pub peers: f64,
    pub consumers: f64,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        Scrape {
            worker_cpu_seconds: per_worker(text, "podium_worker_cpu_seconds_total"),
            worker_peers: per_worker(text, "podium_worker_peers"),
            worker_restarts: per_worker(text, "podium_worker_restarts_total")
                .values()
                .sum(),
            peers: scalar(text, "podium_peers").unwrap_or(0.0),
            consumers: scalar(text, "podium_consumers").unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP podium_workers mediasoup workers alive.\n\
        # TYPE podium_workers gauge\n\
        podium_workers 2\n\
        podium_worker_cpu_seconds_total{worker=\"0\"} 12.5\n\
        podium_worker_cpu_seconds_total{worker=\"1\"} 3\n\
        podium_worker_peers{worker=\"0\"} 251\n\
        podium_worker_peers{worker=\"1\"} 250\n\
        podium_worker_restarts_total{worker=\"0\"} 0\n\
        podium_worker_restarts_total{worker=\"1\"} 1\n\
        podium_peers 501\n\
        podium_consumers 1000\n\
        podium_ws_connections 501\n";

    #[test]
    fn reads_per_worker_and_scalar_metrics() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.worker_cpu_seconds.get(&0), Some(&12.5));
        assert_eq!(s.worker_cpu_seconds.get(&1), Some(&3.0));
        assert_eq!(s.worker_peers.values().sum::<f64>(), 501.0);
        assert_eq!(s.worker_restarts, 1.0);
        assert_eq!(s.peers, 501.0);
        assert_eq!(s.consumers, 1000.0);
    }

    #[test]
    fn labels_and_missing_metrics() {
        assert_eq!(label("worker=\"3\",room=\"a\"", "room"), Some("a"));
        assert_eq!(label("worker=\"3\"", "room"), None);
        assert_eq!(scalar(TEXT, "podium_nothing"), None);
        // A prefix of a longer name is not that metric.
        assert_eq!(scalar(TEXT, "podium_worker"), None);
    }
}
