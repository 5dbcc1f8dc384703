//! `X-Twilio-Signature`: how a webhook proves it comes from Twilio.
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + every POST parameter
//! as name+value, sorted by name, then by value for repeated names)). The
//! URL is the one Twilio called, i.e. the public (tunnel) URL, never the
//! loopback URL the request arrived on. Validation covers every parameter
//! received (Twilio adds new ones without notice), so an added parameter is
//! refused. JSON-bodied webhooks sign the URL alone, and the URL carries
//! `bodySHA256=<hex SHA-256 of the raw body>`.
//!
//! Twilio's libraries (the `RequestValidator` of twilio-python, the oracle
//! of the tests) accept a signature made over the URL with or without its
//! port: `https://host/x` and `https://host:443/x` alike (`:80` for http).
//! So do we, and like them we keep identical repeated pairs once.
//!
//! Everything here is a pure function of (token, URL, parameters or body,
//! header); the webhook handlers feed it the request's parts.

use hmac::{KeyInit, Mac};
use sha2::Digest as _;

use crate::util::constant_time_eq;

/// The header that carries the signature (HTTP names are case-insensitive).
pub const HEADER: &str = "x-twilio-signature";
/// The header Twilio adds to webhooks signed with a SharedKey instead of
/// the auth token: `key=<id>,algorithm=<HMAC_SHA1|HMAC_SHA256>`.
pub const SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";
/// The query parameter of the JSON-body variant.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// The parts of a received webhook request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request target as received: path and query, e.g.
    /// `/webhooks/twilio/sms?x=1`.
    pub path_and_query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// `X-Twilio-Signature`, if present.
    pub signature: Option<&'a str>,
    /// `X-Twilio-Webhooks-Signature-Settings`, if present.
    pub signature_settings: Option<&'a str>,
}

/// What a request whose signature held carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Form parameters in the order received: exactly the ones checked.
    Form(Vec<(String, String)>),
    /// A JSON body whose SHA-256 matched the signed `bodySHA256`.
    Json,
}

/// Why a request was refused. The text is for the log line and the audit
/// row: it never contains the token, a parameter value or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no X-Twilio-Signature header")]
    MissingSignature,
    #[error(
        "the X-Twilio-Signature does not match the request as signed for {url} (check `twilio.public_url`: it must be the URL Twilio calls, e.g. the tunnel's https URL)"
    )]
    Mismatch { url: String },
    #[error("the body's SHA-256 does not match the URL's bodySHA256")]
    BodyHash,
    #[error("a {content_type} body without bodySHA256 in the URL cannot be verified")]
    UnsignedBody { content_type: String },
    #[error(
        "signed with {algorithm} (a Twilio SharedKey), which commsd does not check: only the auth token's HMAC_SHA1"
    )]
    UnsupportedAlgorithm { algorithm: String },
}

/// The signature Twilio computes for `url` and `params`.
pub fn compute(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // By name, then by value; an identical pair counts once (as Twilio's
    // libraries do: they sort sets of names and of values).
    sorted.sort_unstable();
    sorted.dedup();
    let mut mac = match hmac::Hmac::<sha1::Sha1>::new_from_slice(token) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64_encode(&mac.finalize().into_bytes())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The two spellings of `url` Twilio's libraries check: without its port
/// and with it (the scheme's default when it has none). A URL that names a
/// port is also tried without it, as the libraries do.
pub fn url_variants(url: &str) -> [String; 2] {
    let Some(scheme_end) = url.find("://") else {
        return [url.to_owned(), url.to_owned()];
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    // The port follows the last ':' after the userinfo and any IPv6 literal.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let after_literal = authority[host_start..]
        .rfind(']')
        .map_or(host_start, |i| host_start + i);
    let port_colon = authority[after_literal..]
        .rfind(':')
        .map(|i| after_literal + i)
        .filter(|&i| {
            let port = &authority[i + 1..];
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port != "0"
        });
    let (before, after) = (&url[..authority_start], &url[authority_end..]);
    match port_colon {
        Some(colon) => [
            format!("{before}{}{after}", &authority[..colon]),
            url.to_owned(),
        ],
        None => {
            let port = if url[..scheme_end].eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            [url.to_owned(), format!("{before}{authority}:{port}{after}")]
        }
    }
}

/// Checks `header` against `url` and form `params` (every one received).
pub fn verify_params(
    token: &[u8],
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> Result<(), Refusal> {
    let header = header.trim().as_bytes();
    let [without, with] = url_variants(url);
    // Both are computed and compared whatever the first gives.
    let a = constant_time_eq(compute(token, &without, params).as_bytes(), header);
    let b = constant_time_eq(compute(token, &with, params).as_bytes(), header);
    if a | b {
        Ok(())
    } else {
        Err(Refusal::Mismatch {
            url: without_query(url).to_owned(),
        })
    }
}

/// Checks a JSON-bodied webhook: `url` must carry `bodySHA256`, equal to
/// the hex SHA-256 of `body`, and the signature covers the URL alone.
pub fn verify_json(token: &[u8], url: &str, body: &[u8], header: &str) -> Result<(), Refusal> {
    let Some(claimed) = query_param(url, BODY_HASH_PARAM) else {
        return Err(Refusal::UnsignedBody {
            content_type: "JSON".to_owned(),
        });
    };
    let actual = hex::encode(sha2::Sha256::digest(body));
    let hash_ok = constant_time_eq(actual.as_bytes(), claimed.as_bytes());
    let signature = verify_params(token, url, &[], header);
    if !hash_ok {
        return Err(Refusal::BodyHash);
    }
    signature
}

/// The URL Twilio called for a request that arrived as `path_and_query`:
/// the configured public URL (scheme, host and any path prefix the tunnel
/// maps onto the webhook listener) followed by the request target.
pub fn signed_url(public_url: &str, path_and_query: &str) -> String {
    format!(
        "{}/{}",
        public_url.trim_end_matches('/'),
        path_and_query.trim_start_matches('/')
    )
}

/// Checks a received webhook against `public_url` (see [`signed_url`]).
/// A form body is checked over every parameter and returned parsed; any
/// other body must be the JSON variant.
pub fn verify(token: &[u8], public_url: &str, req: &Request<'_>) -> Result<Verified, Refusal> {
    if let Some(algorithm) = req.signature_settings.and_then(settings_algorithm)
        && !algorithm.eq_ignore_ascii_case("HMAC_SHA1")
    {
        return Err(Refusal::UnsupportedAlgorithm { algorithm });
    }
    let Some(header) = req.signature else {
        return Err(Refusal::MissingSignature);
    };
    let url = signed_url(public_url, req.path_and_query);
    let media_type = req.content_type.map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match media_type.as_deref() {
        None | Some("application/x-www-form-urlencoded") => {
            let params: Vec<(String, String)> = url::form_urlencoded::parse(req.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            verify_params(token, &url, &params, header)?;
            Ok(Verified::Form(params))
        }
        Some(other) => {
            if query_param(&url, BODY_HASH_PARAM).is_none() {
                return Err(Refusal::UnsignedBody {
                    content_type: other.to_owned(),
                });
            }
            verify_json(token, &url, req.body, header)?;
            Ok(Verified::Json)
        }
    }
}

/// The `algorithm=` of a signature settings header, if it names one.
fn settings_algorithm(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        (name.trim() == "algorithm" && !value.trim().is_empty()).then(|| value.trim().to_owned())
    })
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
#[path = "signature_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &[u8] = b"12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOCUMENTED: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn documented_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn twilios_documented_vector() {
        assert_eq!(compute(TOKEN, URL, &documented_params()), DOCUMENTED);
        assert_eq!(
            verify_params(TOKEN, URL, &documented_params(), DOCUMENTED),
            Ok(())
        );
    }

    #[test]
    fn order_received_does_not_matter_but_every_parameter_does() {
        let mut reversed = documented_params();
        reversed.reverse();
        assert_eq!(verify_params(TOKEN, URL, &reversed, DOCUMENTED), Ok(()));
        let mut added = documented_params();
        added.push(("ApiVersion".to_owned(), "2010-04-01".to_owned()));
        assert!(matches!(
            verify_params(TOKEN, URL, &added, DOCUMENTED),
            Err(Refusal::Mismatch { .. })
        ));
        let mut changed = documented_params();
        changed[2].1 = "1235".to_owned();
        assert!(verify_params(TOKEN, URL, &changed, DOCUMENTED).is_err());
        assert!(verify_params(b"12346", URL, &documented_params(), DOCUMENTED).is_err());
    }

    #[test]
    fn ports_are_optional_as_in_twilios_libraries() {
        assert_eq!(
            url_variants("https://h.example/x?a=1"),
            [
                "https://h.example/x?a=1".to_owned(),
                "https://h.example:443/x?a=1".to_owned()
            ]
        );
        assert_eq!(
            url_variants("http://h.example"),
            [
                "http://h.example".to_owned(),
                "http://h.example:80".to_owned()
            ]
        );
        assert_eq!(
            url_variants("https://h.example:8443/x"),
            [
                "https://h.example/x".to_owned(),
                "https://h.example:8443/x".to_owned()
            ]
        );
        assert_eq!(
            url_variants("https://[::1]:443/x"),
            [
                "https://[::1]/x".to_owned(),
                "https://[::1]:443/x".to_owned()
            ]
        );
        let params = documented_params();
        let with_port = compute(
            TOKEN,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params,
        );
        assert_eq!(verify_params(TOKEN, URL, &params, &with_port), Ok(()));
        assert_eq!(
            verify_params(
                TOKEN,
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &params,
                DOCUMENTED
            ),
            Ok(())
        );
        // Signed for https, received as http: refused.
        assert!(
            verify_params(
                TOKEN,
                "http://mycompany.com/myapp.php?foo=1&bar=2",
                &params,
                DOCUMENTED
            )
            .is_err()
        );
    }

    #[test]
    fn repeated_names_sort_by_value_and_identical_pairs_count_once() {
        let a = pairs(&[("Media", "b"), ("Media", "a"), ("Body", "x")]);
        let b = pairs(&[
            ("Body", "x"),
            ("Media", "a"),
            ("Media", "b"),
            ("Media", "a"),
        ]);
        assert_eq!(compute(TOKEN, URL, &a), compute(TOKEN, URL, &b));
        let sig = compute(TOKEN, URL, &a);
        let dropped = pairs(&[("Body", "x"), ("Media", "a")]);
        assert!(verify_params(TOKEN, URL, &dropped, &sig).is_err());
    }

    #[test]
    fn json_body_variant() {
        let body = br#"{"MessageSid":"SM1","Body":"hi"}"#;
        let hash = hex::encode(sha2::Sha256::digest(body));
        let url = format!("https://h.example/webhooks/twilio/status?{BODY_HASH_PARAM}={hash}");
        let sig = compute(TOKEN, &url, &[]);
        assert_eq!(verify_json(TOKEN, &url, body, &sig), Ok(()));
        assert_eq!(
            verify_json(TOKEN, &url, br#"{"MessageSid":"SM2"}"#, &sig),
            Err(Refusal::BodyHash)
        );
        let no_hash = "https://h.example/webhooks/twilio/status";
        assert!(matches!(
            verify_json(TOKEN, no_hash, body, &compute(TOKEN, no_hash, &[])),
            Err(Refusal::UnsignedBody { .. })
        ));
        // The same through `verify`, as the handler will call it.
        let target = format!("/webhooks/twilio/status?{BODY_HASH_PARAM}={hash}");
        let req = Request {
            path_and_query: &target,
            content_type: Some("application/json; charset=utf-8"),
            body,
            signature: Some(&sig),
            signature_settings: None,
        };
        assert_eq!(
            verify(TOKEN, "https://h.example/", &req),
            Ok(Verified::Json)
        );
    }

    #[test]
    fn verify_parses_the_form_it_checked() {
        let public = "https://tunnel.example";
        let target = "/webhooks/twilio/sms";
        let params = pairs(&[("Body", "Hi + bye"), ("From", "+15550001111")]);
        let sig = compute(TOKEN, &signed_url(public, target), &params);
        let body = b"From=%2B15550001111&Body=Hi+%2B+bye";
        let req = Request {
            path_and_query: target,
            content_type: Some("application/x-www-form-urlencoded"),
            body,
            signature: Some(&sig),
            signature_settings: Some("key=x,algorithm=HMAC_SHA1"),
        };
        let got = verify(TOKEN, public, &req);
        assert_eq!(
            got,
            Ok(Verified::Form(pairs(&[
                ("From", "+15550001111"),
                ("Body", "Hi + bye")
            ])))
        );
        let loopback = verify(TOKEN, "http://127.0.0.1:3003", &req);
        assert!(matches!(loopback, Err(Refusal::Mismatch { .. })));
        assert_eq!(
            verify(
                TOKEN,
                public,
                &Request {
                    signature: None,
                    ..req
                }
            ),
            Err(Refusal::MissingSignature)
        );
        assert!(matches!(
            verify(
                TOKEN,
                public,
                &Request {
                    signature_settings: Some("key=k,algorithm=HMAC_SHA256"),
                    ..req
                }
            ),
            Err(Refusal::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            verify(
                TOKEN,
                public,
                &Request {
                    content_type: Some("text/plain"),
                    ..req
                }
            ),
            Err(Refusal::UnsignedBody { .. })
        ));
    }

    #[test]
    fn refusals_name_no_secret_or_value() {
        let r = verify_params(TOKEN, URL, &documented_params(), "bad").unwrap_err();
        let text = r.to_string();
        assert!(text.contains("https://mycompany.com/myapp.php"));
        assert!(!text.contains("12345") && !text.contains("foo=1"));
    }
}
