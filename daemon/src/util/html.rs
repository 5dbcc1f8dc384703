//! Readable plain text from HTML: the text part of an email given only as
//! HTML (`outbox::validate`), and the text of received HTML mail (Gmail and
//! IMAP reading).

/// Beyond this many counted start tags, HTML is converted by [`strip_tags`]:
/// html2text's time grows with the square of the nesting depth (200,000
/// nested `<div>`s take minutes), and the count bounds the depth.
const MAX_HTML_TAGS: usize = 4000;

/// Elements that never nest (void) or that the HTML parser closes by itself
/// when the next one starts (so they can only nest through counted ones).
const UNCOUNTED_TAGS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option",
];

/// Readable plain text from HTML, wrapped at 78 columns, with links as
/// numbered footnotes. Used for the text part when only HTML is given.
///
/// Pathologically nested HTML (more than [`MAX_HTML_TAGS`] start tags of
/// elements that can nest) gets a simpler tag-stripping conversion instead,
/// so a hostile body cannot keep a thread busy for minutes.
pub fn html_to_text(html: &str) -> String {
    let text = if count_nesting_tags(html) > MAX_HTML_TAGS {
        strip_tags(html)
    } else {
        html2text::config::plain()
            .allow_width_overflow()
            .string_from_read(html.as_bytes(), 78)
            .unwrap_or_else(|_| strip_tags(html))
    };
    text.trim_end().to_owned()
}

/// The number of start tags of elements that can nest. Anything that looks
/// like a start tag counts, even in comments or scripts: overcounting only
/// selects the simpler conversion.
fn count_nesting_tags(html: &str) -> usize {
    html.split('<')
        .skip(1)
        .filter(|rest| {
            let name = tag_name(rest);
            !name.is_empty() && !UNCOUNTED_TAGS.iter().any(|t| t.eq_ignore_ascii_case(name))
        })
        .count()
}

/// The tag name at the start of `rest` (the text after `<`); empty for end
/// tags, comments and text.
fn tag_name(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        ""
    }
}

/// A plain conversion in one pass: drops tags, comments, scripts and styles,
/// breaks lines at block elements, decodes the common entities.
fn strip_tags(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "blockquote",
        "pre",
        "hr",
    ];
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name = tag_name(after.trim_start_matches('/'));
        let skip_to = if after.starts_with("!--") {
            after.find("-->").map(|i| i + 3)
        } else if name.eq_ignore_ascii_case("script") || name.eq_ignore_ascii_case("style") {
            let closing = format!("</{}", name.to_ascii_lowercase());
            find_ascii_case_insensitive(after, &closing)
                .and_then(|i| after[i..].find('>').map(|j| i + j + 1))
        } else {
            after.find('>').map(|i| i + 1)
        };
        if BLOCKS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
            out.push('\n');
        }
        rest = match skip_to {
            Some(i) => &after[i..],
            None => "",
        };
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    tidy_lines(&decoded)
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Collapses runs of spaces and blank lines.
fn tidy_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&words.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_is_readable() {
        let html = "<html><head><style>p { color: red }</style><script>alert(1)</script></head>\
                    <body><h1>Reminder</h1><p>Your appointment is on <b>Tuesday</b>.</p>\
                    <ul><li>Bring your card</li><li>Arrive early</li></ul>\
                    <p><a href=\"https://clinic.example/a\">Reschedule</a></p></body></html>";
        let text = html_to_text(html);
        assert!(text.contains("Reminder"), "{text}");
        assert!(text.contains("Your appointment is on"), "{text}");
        assert!(text.contains("Tuesday"), "{text}");
        assert!(text.contains("Bring your card"), "{text}");
        assert!(text.contains("https://clinic.example/a"), "{text}");
        assert!(!text.contains("alert"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn html_to_text_wraps_at_78_columns() {
        let html = format!("<p>{}</p>", "word ".repeat(100));
        let text = html_to_text(&html);
        assert!(text.lines().count() > 5, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 78), "{text}");
    }

    #[test]
    fn deeply_nested_html_takes_the_simple_conversion() {
        let html = format!(
            "{}Hello &amp; welcome<!-- <div> --><script>x()</script>",
            "<div>".repeat(MAX_HTML_TAGS + 1)
        );
        let started = std::time::Instant::now();
        let text = html_to_text(&html);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(text, "Hello & welcome");
    }

    #[test]
    fn counting_nesting_tags_skips_void_and_self_closing_elements() {
        assert_eq!(count_nesting_tags("<p>a</p><br><img src=x><td>"), 0);
        assert_eq!(
            count_nesting_tags("<div><SPAN>a</span></div><!-- x --> a < b"),
            2
        );
        // Closing tags never reduce the count, wherever they appear.
        assert_eq!(count_nesting_tags("<div title=\"</div>\"></b><div>"), 2);
        // A long flat table stays with html2text.
        let table = format!("<table>{}</table>", "<tr><td>x</td></tr>".repeat(10_000));
        assert_eq!(count_nesting_tags(&table), 1);
    }

    #[test]
    fn strip_tags_keeps_text_and_lines() {
        let text = strip_tags(
            "<h1>Title</h1><p>One &lt;two&gt;</p><STYLE>x{}</STYLE><p>Three&nbsp;four</p><br>end",
        );
        assert_eq!(text, "Title\n\nOne <two>\n\nThree four\n\nend");
        assert_eq!(strip_tags("unterminated <b"), "unterminated");
        assert_eq!(strip_tags("<script>never closed"), "");
    }
}
