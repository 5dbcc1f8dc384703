//! Untrusted HTML made safe to show: no scripts, no event handlers, no
//! remote resources. The page is also served with a CSP that allows nothing
//! but inline styles and data: images, and shown in a sandboxed iframe.

use std::collections::HashSet;

/// The Content-Security-Policy of every preview document.
pub const PREVIEW_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// Cleans `html` for display; remote URLs in src attributes are dropped.
pub fn clean(html: &str) -> String {
    let schemes: HashSet<&str> = ["http", "https", "mailto", "tel"].into_iter().collect();
    ammonia::Builder::default()
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|element, attribute, value| {
            // data: is allowed for inline images only, never as a link target.
            if attribute == "href" && value.trim_start().to_ascii_lowercase().starts_with("data:") {
                return None;
            }
            // Images may only be inline data: a remote image is a tracking pixel.
            if attribute == "src" || attribute == "srcset" || attribute == "background" {
                if element == "img" && value.trim_start().starts_with("data:image/") {
                    return Some(value.into());
                }
                return None;
            }
            Some(value.into())
        })
        .add_url_schemes(["data"])
        .clean(html)
        .to_string()
}

/// A complete document for the preview iframe.
pub fn document(body_html: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:16px;color:#1f2933;word-wrap:break-word}}\
         img{{max-width:100%}}</style></head><body>{}</body></html>",
        clean(body_html)
    )
}

pub use crate::util::escape_html as escape;

/// Plain text as a preview document.
pub fn text_document(text: &str) -> String {
    let escaped = escape(text);
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:16px;color:#1f2933}}\
         pre{{white-space:pre-wrap;font:inherit}}</style></head><body><pre>{escaped}</pre></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_remote_images_are_removed() {
        let dirty = r#"<p onclick="x()">Hi <script>alert(1)</script><img src="https://tracker.example/p.gif"><img src="data:image/png;base64,AAAA"><a href="https://ok.example">link</a><iframe src="https://x"></iframe></p>"#;
        let clean = clean(dirty);
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("tracker.example"), "{clean}");
        assert!(!clean.contains("iframe"), "{clean}");
        assert!(clean.contains("data:image/png"), "{clean}");
        assert!(clean.contains(r#"href="https://ok.example""#), "{clean}");
    }

    #[test]
    fn text_is_escaped() {
        assert!(text_document("<b>x</b> & y").contains("&lt;b&gt;x&lt;/b&gt; &amp; y"));
    }
}
