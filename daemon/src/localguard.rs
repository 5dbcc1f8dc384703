//! Checks that keep the loopback listeners out of reach of web pages the
//! user happens to visit: DNS rebinding (Host) and cross-site requests (Origin).

use axum::http::{HeaderMap, header};

/// Whether a Host header names this machine's loopback interface.
pub fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The request's Host, when present and readable.
pub fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// Whether an Origin (scheme://host[:port]) is a loopback origin.
pub fn origin_is_loopback(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(host_is_loopback)
}

/// For the dashboard's mutations: the Origin, when sent, must be exactly this
/// listener's origin; `Sec-Fetch-Site`, when sent, must be same-origin.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = host(headers) else {
        return false;
    };
    let origin_ok = match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => origin == format!("http://{host}"),
    };
    let fetch_site_ok = match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(site) => site == "same-origin" || site == "none",
    };
    origin_ok && fetch_site_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "127.0.0.1:3001",
            "localhost:3002",
            "LOCALHOST",
            "[::1]:3001",
            "127.1.2.3",
            "localhost.:80",
        ] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:3001",
            "10.0.0.1:3001",
            "localhost.evil.example",
            "[::2]:1",
            "",
        ] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
        assert!(origin_is_loopback("http://127.0.0.1:3001"));
        assert!(!origin_is_loopback("http://evil.example"));
        assert!(!origin_is_loopback("null"));
    }

    #[test]
    fn same_origin_checks_origin_and_fetch_site() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:3001".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:3001".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
        h.remove("sec-fetch-site");
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
