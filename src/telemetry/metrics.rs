//! The metrics sink: request counters and latency histograms, presigns, refused
//! authentications and rate-limited requests, kept in one `prometheus-client` registry
//! per application (so tests in one process each count their own) and rendered in the
//! Prometheus text format 0.0.4. It imports nothing from the crate; audit, the rate
//! limits and the request middleware call its methods.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Route patterns kept at most: the route table is far smaller; beyond this, requests
/// count under `-` rather than grow the label set.
const MAX_ROUTES: usize = 1_000;

/// `(method, route pattern, status)`: the route is the pattern (`/api/v1/files/{id}`),
/// never the raw path, so the label set stays small. All three are `Copy`: finding a
/// request's series allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

/// One label, as `(name, value)`: `("kind", "upload")`.
type OneLabel = [(&'static str, &'static str); 1];

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    latency: HistogramFamily,
    presigns: Family<OneLabel, Counter>,
    auth_failures: Family<OneLabel, Counter>,
    rate_limited: Family<OneLabel, Counter>,
    /// Route patterns seen, each stored once for the life of the process.
    routes: RwLock<HashSet<&'static str>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let presigns = Family::<OneLabel, Counter>::default();
        let auth_failures = Family::<OneLabel, Counter>::default();
        let rate_limited = Family::<OneLabel, Counter>::default();
        // The usual refusals start at 0, so a scrape shows them (and a dashboard's query
        // finds the series) before the first one happens.
        for action in [
            "login",
            "refresh",
            "register",
            "password_change",
            "refresh_reuse_detected",
        ] {
            let _ = auth_failures.get_or_create(&[("action", action)]);
        }
        for limit in ["auth", "user", "public", "link_password", "device_code"] {
            let _ = rate_limited.get_or_create(&[("limit", limit)]);
        }
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "coffer_http_requests",
            "HTTP requests by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "coffer_http_request_duration_seconds",
            "HTTP request latency by method, route pattern and status",
            latency.clone(),
        );
        registry.register(
            "coffer_presigns",
            "Presigned URL batches handed out, by kind (upload, parts, download, archive, link)",
            presigns.clone(),
        );
        registry.register(
            "coffer_auth_failures",
            "Refused authentication attempts, by action (login, refresh, register, ...)",
            auth_failures.clone(),
        );
        registry.register(
            "coffer_rate_limited",
            "Requests refused by a rate limit, by limit",
            rate_limited.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            presigns,
            auth_failures,
            rate_limited,
            routes: RwLock::new(HashSet::new()),
        }
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
        let labels = HttpLabels {
            method,
            route: self.route(route),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The stored copy of a route pattern: found by the `&str` the request has, copied
    /// (and leaked, a few dozen bytes per route of the table) the first time it is seen.
    fn route(&self, route: &str) -> &'static str {
        if let Some(known) = self.routes.read().ok().and_then(|r| r.get(route).copied()) {
            return known;
        }
        let Ok(mut routes) = self.routes.write() else {
            return "-";
        };
        if let Some(known) = routes.get(route) {
            return known;
        }
        if routes.len() >= MAX_ROUTES {
            return "-";
        }
        let stored: &'static str = Box::leak(route.to_owned().into_boxed_str());
        routes.insert(stored);
        stored
    }

    /// A batch of presigned URLs handed out, by kind (`upload`, `parts`, `download`,
    /// `archive`, `link`).
    pub fn presign(&self, kind: &'static str) {
        self.presigns.get_or_create(&[("kind", kind)]).inc();
    }

    /// A refused authentication attempt, by action (`login`, `refresh`, ...).
    pub fn auth_failure(&self, action: &'static str) {
        self.auth_failures
            .get_or_create(&[("action", action)])
            .inc();
    }

    /// A request refused by the rate limit of `scope`.
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited.get_or_create(&[("limit", scope)]).inc();
    }

    /// The counters and histograms, in the text format.
    pub fn render(&self, out: &mut String) {
        render(out, &self.registry);
    }
}

/// Appends `registry` to `out` in the Prometheus text format 0.0.4.
pub fn render(out: &mut String, registry: &Registry) {
    // Writing into a String cannot fail.
    let _ = prometheus_text::encode(out, registry);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(m: &Metrics) -> String {
        let mut out = String::new();
        m.render(&mut out);
        out
    }

    #[test]
    fn latency_buckets_are_cumulative_and_end_with_the_count() {
        let m = Metrics::new();
        for ms in [0, 3, 3, 40, 20_000] {
            m.observe_request("GET", "/a", 200, Duration::from_millis(ms));
        }
        let out = rendered(&m);
        let bucket = |le: &str| {
            let prefix = format!(
                "coffer_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/a\",status=\"200\",le=\"{le}\"}} "
            );
            out.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(|v| v.parse::<u64>().unwrap_or(u64::MAX))
        };
        assert_eq!(bucket("0.001"), Some(1), "{out}");
        assert_eq!(bucket("0.005"), Some(3));
        assert_eq!(bucket("0.05"), Some(4));
        assert_eq!(bucket("10"), Some(4));
        assert_eq!(bucket("+Inf"), Some(5));
        assert!(out.contains(
            "coffer_http_request_duration_seconds_count{method=\"GET\",route=\"/a\",status=\"200\"} 5\n"
        ));
        assert!(out.contains("# TYPE coffer_http_requests_total counter\n"));
    }

    #[test]
    fn unknown_methods_share_one_series() {
        let m = Metrics::new();
        for method in ["BREW", "PROPFIND", "X"] {
            m.observe_request(method, "-", 405, Duration::ZERO);
        }
        let out = rendered(&m);
        let line = r#"coffer_http_requests_total{method="OTHER",route="-",status="405"} 3"#;
        assert!(out.lines().any(|l| l == line), "{out}");
        assert_eq!(out.matches("coffer_http_requests_total{").count(), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.observe_request("GET", "x\"y\\z\nw", 200, Duration::ZERO);
        let out = rendered(&m);
        let line = r#"coffer_http_requests_total{method="GET",route="x\"y\\z\nw",status="200"} 1"#;
        assert!(out.lines().any(|l| l == line), "{out}");
    }

    #[test]
    fn each_route_is_stored_once_and_the_set_is_bounded() {
        let m = Metrics::new();
        let first = m.route("/api/v1/files/{id}");
        let again = m.route(&String::from("/api/v1/files/{id}"));
        assert!(std::ptr::eq(first, again));
        for i in 0..MAX_ROUTES + 5 {
            m.route(&format!("/r/{i}"));
        }
        assert_eq!(m.routes.read().map(|r| r.len()).ok(), Some(MAX_ROUTES));
        assert_eq!(m.route("/one/more"), "-");
        assert_eq!(m.route("/api/v1/files/{id}"), "/api/v1/files/{id}");
    }

    #[test]
    fn applications_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.presign("upload");
        a.presign("upload");
        b.rate_limited("auth");
        let (a, b) = (rendered(&a), rendered(&b));
        assert!(
            a.contains("coffer_presigns_total{kind=\"upload\"} 2\n"),
            "{a}"
        );
        // Each shows the usual limits from 0; only b counted one.
        assert!(
            a.contains("coffer_rate_limited_total{limit=\"auth\"} 0\n"),
            "{a}"
        );
        assert!(
            b.contains("coffer_rate_limited_total{limit=\"auth\"} 1\n"),
            "{b}"
        );
        assert!(!b.contains("coffer_presigns_total{"));
    }
}
