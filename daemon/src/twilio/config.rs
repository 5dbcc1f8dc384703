//! `[twilio]` in the config file. Credentials are never here: the auth
//! token (or API key secret) lives in the vault.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

/// Twilio's REST API.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// `[twilio]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    /// Where the REST API is (tests point it at a contract server, some
    /// users at a proxy).
    pub api_base: String,
    /// The URL Twilio calls for the webhook listener's root, e.g. the
    /// tunnel's `https://sms.example.com`: webhook signatures are checked
    /// against it. Unset: every webhook is refused.
    pub public_url: Option<String>,
    /// Addresses (or CIDR ranges) of reverse proxies whose
    /// `X-Forwarded-*` headers are believed; nobody else's are.
    pub trusted_proxies: Vec<String>,
    /// How often to list recent messages for users who cannot expose a
    /// webhook; "0s" (the default) never polls.
    #[serde(deserialize_with = "crate::de::duration")]
    pub poll_interval: Duration,
    /// The price of one segment in the account's currency, for the cost
    /// shown in previews; unset shows none.
    pub price_per_segment: Option<f64>,
    /// Inbound MMS media larger than this are not downloaded.
    pub media_max_bytes: u64,
    /// How long one call to Twilio may take before it counts as lost: a
    /// send with no answer by then becomes `unknown` (at least 1 s).
    #[serde(deserialize_with = "crate::de::duration")]
    pub request_timeout: Duration,
}

/// `[sms]`: how SMS are sent, whatever the provider.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `"21:00-08:00"`: an approved SMS waits until they end (unless the
    /// approver overrides). Unset: no quiet hours.
    pub quiet_hours: Option<String>,
    /// The time zone of `quiet_hours` (IANA name, e.g. "America/New_York");
    /// default: the system's.
    pub time_zone: Option<String>,
    /// Replace smart quotes, dashes and ellipses with plain ones at staging,
    /// so they do not force UCS-2 (which more than doubles the segments).
    pub replace_smart_quotes: bool,
}

impl SmsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(q) = &self.quiet_hours {
            super::quiet::QuietHours::parse(q, self.time_zone.as_deref())
                .map_err(|why| format!("key `sms.quiet_hours`: {why}"))?;
        }
        if let Some(tz) = &self.time_zone {
            jiff::tz::TimeZone::get(tz).map_err(|_| {
                format!(
                    "key `sms.time_zone`: {tz:?} is not a time zone name (e.g. \"Europe/Paris\")"
                )
            })?;
        }
        Ok(())
    }
}

/// Polling more often than this only spends Twilio's rate limit.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(10);

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            api_base: DEFAULT_API_BASE.to_owned(),
            public_url: None,
            trusted_proxies: Vec::new(),
            poll_interval: Duration::ZERO,
            price_per_segment: None,
            // Twilio accepts MMS media up to 5 MB.
            media_max_bytes: 5 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl TwilioConfig {
    pub fn validate(&self) -> Result<(), String> {
        check_base_url(&self.api_base).map_err(|why| format!("key `twilio.api_base`: {why}"))?;
        if let Some(public) = &self.public_url {
            check_base_url(public).map_err(|why| format!("key `twilio.public_url`: {why}"))?;
        }
        for (i, p) in self.trusted_proxies.iter().enumerate() {
            parse_range(p).map_err(|why| format!("key `twilio.trusted_proxies[{i}]`: {why}"))?;
        }
        if !self.poll_interval.is_zero() && self.poll_interval < MIN_POLL_INTERVAL {
            return Err(format!(
                "key `twilio.poll_interval`: {} is too often; use at least {} (or \"0s\" to turn polling off)",
                humantime::format_duration(self.poll_interval),
                humantime::format_duration(MIN_POLL_INTERVAL)
            ));
        }
        if let Some(price) = self.price_per_segment
            && !(price.is_finite() && price >= 0.0)
        {
            return Err(format!(
                "key `twilio.price_per_segment`: {price} is not a price (a number of at least 0, e.g. 0.0083)"
            ));
        }
        if self.request_timeout < Duration::from_secs(1) {
            return Err(
                "key `twilio.request_timeout`: at least 1s (a call needs time to be answered)"
                    .to_owned(),
            );
        }
        if self.media_max_bytes == 0 {
            return Err("key `twilio.media_max_bytes`: must be at least 1".to_owned());
        }
        Ok(())
    }

    /// Whether forwarded headers from `peer` are believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_range(p).ok())
            .any(|(net, bits)| in_range(peer, net, bits))
    }
}

/// An http(s) URL with a host and no query or fragment.
fn check_base_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} is not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} must not carry credentials (they belong in the vault)"
        ));
    }
    Ok(())
}

/// `10.0.0.1` (one address) or `10.0.0.0/8`.
fn parse_range(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address or CIDR range such as 10.0.0.0/8"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => b
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&b| b <= max)
            .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
    };
    Ok((addr, bits))
}

fn in_range(peer: IpAddr, net: IpAddr, bits: u8) -> bool {
    let peer = match (peer, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        _ => peer,
    };
    match (peer, net) {
        (IpAddr::V4(p), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(p) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(p), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(p) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<TwilioConfig, String> {
        let de = toml::Deserializer::parse(toml_text).map_err(|e| e.to_string())?;
        let config: TwilioConfig =
            serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e))?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn defaults_poll_nothing_and_refuse_webhooks() {
        let c = parse("").unwrap();
        assert_eq!(c, TwilioConfig::default());
        assert_eq!(c.api_base, "https://api.twilio.com");
        assert!(c.public_url.is_none() && c.poll_interval.is_zero());
        assert_eq!(c.media_max_bytes, 5 * 1024 * 1024);
    }

    #[test]
    fn a_full_section() {
        let c = parse(
            r#"
api_base = "http://127.0.0.1:4010"
public_url = "https://sms.example.com/commsd"
trusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]
poll_interval = "1m"
price_per_segment = 0.0083
media_max_bytes = 1000
"#,
        )
        .unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        assert_eq!(c.price_per_segment, Some(0.0083));
        for (ip, trusted) in [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("::1", true),
            ("::ffff:10.9.9.9", true),
            ("192.168.1.1", false),
        ] {
            assert_eq!(c.is_trusted_proxy(ip.parse().unwrap()), trusted, "{ip}");
        }
        assert!(!TwilioConfig::default().is_trusted_proxy("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("api_base = \"ftp://x\"", "twilio.api_base"),
            ("public_url = \"sms.example.com\"", "twilio.public_url"),
            ("public_url = \"https://h/?a=1\"", "twilio.public_url"),
            ("public_url = \"https://u:p@h/\"", "twilio.public_url"),
            (
                "trusted_proxies = [\"1.2.3.4\", \"proxy\"]",
                "twilio.trusted_proxies[1]",
            ),
            (
                "trusted_proxies = [\"10.0.0.0/33\"]",
                "twilio.trusted_proxies[0]",
            ),
            ("poll_interval = \"2s\"", "twilio.poll_interval"),
            ("price_per_segment = -1.0", "twilio.price_per_segment"),
            ("media_max_bytes = 0", "twilio.media_max_bytes"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(&format!("key `{key}`")), "{text}: {e}");
        }
        let e = parse("poll_interval = \"soon\"").unwrap_err();
        assert!(e.starts_with("poll_interval"), "{e}");
        let e = parse("auth_token = \"x\"").unwrap_err();
        assert!(e.contains("unknown field `auth_token`"), "{e}");
    }
}
