//! The metrics sink: counters and latency histograms kept in memory per process, and
//! the Prometheus text format (0.0.4) they render to. It imports nothing from the
//! crate; audit, the rate limits and the request middleware call its methods.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Latency {
    /// Observations at or below each bound (not yet cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// `(method, route pattern, status)`: the route is the pattern (`/api/v1/files/{id}`),
/// never the raw path, so the label set stays small.
type HttpKey = (&'static str, String, u16);

/// Latencies by route pattern, then by method and status: a request finds its series
/// by the `&str` it has, and a route's name is copied once, when first seen.
type ByRoute = HashMap<String, HashMap<(&'static str, u16), Latency>>;

/// Counters of one label.
type Counter = Mutex<BTreeMap<&'static str, u64>>;

fn bump(counter: &Counter, label: &'static str) {
    if let Ok(mut map) = counter.lock() {
        *map.entry(label).or_default() += 1;
    }
}

#[derive(Default)]
pub struct Metrics {
    http: Mutex<ByRoute>,
    presigns: Counter,
    auth_failures: Counter,
    rate_limited: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One finished HTTP request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        // Clients choose the method: only the standard ones get a series of their own.
        let method = match method {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "OPTIONS" => "OPTIONS",
            _ => "OTHER",
        };
        let secs = took.as_secs_f64();
        let Ok(mut http) = self.http.lock() else {
            return;
        };
        if !http.contains_key(route) {
            http.insert(route.to_owned(), HashMap::new());
        }
        let Some(series) = http.get_mut(route) else {
            return;
        };
        let entry = series.entry((method, status)).or_default();
        entry.count += 1;
        entry.sum += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            entry.buckets[i] += 1;
        }
    }

    /// A batch of presigned URLs handed out, by kind (`upload`, `parts`, `download`,
    /// `archive`, `link`).
    pub fn presign(&self, kind: &'static str) {
        bump(&self.presigns, kind);
    }

    /// A refused authentication attempt, by action (`login`, `refresh`, ...).
    pub fn auth_failure(&self, action: &'static str) {
        bump(&self.auth_failures, action);
    }

    /// A request refused by the rate limit of `scope`.
    pub fn rate_limited(&self, scope: &'static str) {
        bump(&self.rate_limited, scope);
    }

    /// The in-memory counters and histograms, in the text format.
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "coffer_http_requests_total",
            "counter",
            "HTTP requests by method, route pattern and status.",
        );
        let http = self.http.lock().map(|h| {
            let mut rows: Vec<(HttpKey, [u64; BUCKETS.len()], u64, f64)> = h
                .iter()
                .flat_map(|(route, series)| {
                    series.iter().map(|((method, status), v)| {
                        ((*method, route.clone(), *status), v.buckets, v.count, v.sum)
                    })
                })
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows
        });
        let http = http.unwrap_or_default();
        for ((method, route, status), _, count, _) in &http {
            let labels = labels(&[
                ("method", method),
                ("route", route),
                ("status", &status.to_string()),
            ]);
            let _ = writeln!(out, "coffer_http_requests_total{labels} {count}");
        }
        let name = "coffer_http_request_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "HTTP request latency by method, route pattern and status.",
        );
        for ((method, route, status), buckets, count, sum) in &http {
            let status = status.to_string();
            let base = [("method", *method), ("route", route), ("status", &status)];
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(buckets) {
                cumulative += n;
                let le = bound.to_string();
                let mut with_le = base.to_vec();
                with_le.push(("le", &le));
                let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(&with_le));
            }
            let mut with_le = base.to_vec();
            with_le.push(("le", "+Inf"));
            let _ = writeln!(out, "{name}_bucket{} {count}", labels(&with_le));
            let _ = writeln!(out, "{name}_sum{} {sum}", labels(&base));
            let _ = writeln!(out, "{name}_count{} {count}", labels(&base));
        }
        for (name, help, label, counter) in [
            (
                "coffer_presigns_total",
                "Presigned URL batches handed out, by kind (upload, parts, download, archive, link).",
                "kind",
                &self.presigns,
            ),
            (
                "coffer_auth_failures_total",
                "Refused authentication attempts, by action (login, refresh, register, ...).",
                "action",
                &self.auth_failures,
            ),
            (
                "coffer_rate_limited_total",
                "Requests refused by a rate limit, by limit.",
                "limit",
                &self.rate_limited,
            ),
        ] {
            family(out, name, "counter", help);
            if let Ok(map) = counter.lock() {
                for (value, n) in map.iter() {
                    let _ = writeln!(out, "{name}{} {n}", labels(&[(label, value)]));
                }
            }
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `{a="x",b="y"}` with label values escaped as the text format requires.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s.push('}');
    s
}

/// A gauge family with one unlabelled sample.
pub fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative_and_end_with_the_count() {
        let m = Metrics::new();
        for ms in [0, 3, 3, 40, 20_000] {
            m.observe_request("GET", "/a", 200, Duration::from_millis(ms));
        }
        let mut out = String::new();
        m.render(&mut out);
        let bucket = |le: &str| {
            let prefix = format!(
                "coffer_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/a\",status=\"200\",le=\"{le}\"}} "
            );
            out.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(|v| v.parse::<u64>().unwrap_or(u64::MAX))
        };
        assert_eq!(bucket("0.001"), Some(1));
        assert_eq!(bucket("0.005"), Some(3));
        assert_eq!(bucket("0.05"), Some(4));
        assert_eq!(bucket("10"), Some(4));
        assert_eq!(bucket("+Inf"), Some(5));
    }

    #[test]
    fn unknown_methods_share_one_series() {
        let m = Metrics::new();
        for method in ["BREW", "PROPFIND", "X"] {
            m.observe_request(method, "-", 405, Duration::ZERO);
        }
        let mut out = String::new();
        m.render(&mut out);
        let line = r#"coffer_http_requests_total{method="OTHER",route="-",status="405"} 3"#;
        assert!(out.lines().any(|l| l == line), "{out}");
        assert_eq!(out.matches("coffer_http_requests_total{").count(), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("a", "x\"y\\z\nw"), ("b", "")]),
            r#"{a="x\"y\\z\nw",b=""}"#
        );
    }
}
