//! The client IP: the TCP peer, or the `X-Forwarded-For` entry a trusted proxy added;
//! and likewise the origin (`scheme://host`) the client addressed.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Walks `X-Forwarded-For` from the right while the hop is a trusted proxy; the first
/// untrusted address is the client. Without a trusted peer the header is ignored.
pub fn resolve(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    if let Some(header) = forwarded_for {
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !is_trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
    Some(client)
}

/// `scheme://host` as the client addressed Coffer, for links handed back: what a
/// trusted proxy says it forwarded (`Forwarded`, `X-Forwarded-Host`, `-Proto`), or else
/// the request's own `Host`. Forwarding headers from anyone else are ignored, so a
/// client cannot make Coffer build links that point at another site.
pub fn public_origin(req: &HttpRequest, trusted: &[IpNet]) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    if peer.is_some_and(|ip| trusted.iter().any(|net| net.contains(&ip))) {
        let info = req.connection_info();
        return format!("{}://{}", info.scheme(), info.host());
    }
    let config = req.app_config();
    let scheme = if config.secure() { "https" } else { "http" };
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_else(|| config.host());
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn header_is_ignored_from_untrusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        assert_eq!(
            resolve(Some(ip("1.2.3.4")), Some("9.9.9.9"), &trusted),
            Some(ip("1.2.3.4"))
        );
    }

    #[test]
    fn rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let got = resolve(
            Some(ip("10.0.0.1")),
            Some("6.6.6.6, 5.5.5.5, 10.0.0.2"),
            &trusted,
        );
        assert_eq!(got, Some(ip("5.5.5.5")));
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), None, &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), Some("garbage"), &trusted),
            Some(ip("10.0.0.1"))
        );
    }
}
