//! The dashboard's static files, embedded in the binary (no CDN, no network).

pub const INDEX_HTML: &str = include_str!("../../../dashboard/index.html");
pub const APP_JS: &str = include_str!("../../../dashboard/app.js");
pub const APP_CSS: &str = include_str!("../../../dashboard/app.css");
pub const LOGIN_HTML: &str = include_str!("../../../dashboard/login.html");

/// The CSP of the dashboard's own pages: our script and style only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
