//! The dashboard's static files, embedded in the binary (no CDN, no network).

pub const INDEX_HTML: &str = include_str!("../../../dashboard/index.html");
/// The entry module (`<script type="module">`): routing, keyboard, start-up.
pub const APP_JS: &str = include_str!("../../../dashboard/app.js");
/// The ES modules `app.js` imports, served at `/assets/js/{name}`.
pub const JS_MODULES: &[(&str, &str)] = &[
    ("api.js", include_str!("../../../dashboard/js/api.js")),
    ("audit.js", include_str!("../../../dashboard/js/audit.js")),
    (
        "contacts.js",
        include_str!("../../../dashboard/js/contacts.js"),
    ),
    ("detail.js", include_str!("../../../dashboard/js/detail.js")),
    ("dom.js", include_str!("../../../dashboard/js/dom.js")),
    ("inbox.js", include_str!("../../../dashboard/js/inbox.js")),
    ("format.js", include_str!("../../../dashboard/js/format.js")),
    ("nav.js", include_str!("../../../dashboard/js/nav.js")),
    ("page.js", include_str!("../../../dashboard/js/page.js")),
    ("queue.js", include_str!("../../../dashboard/js/queue.js")),
    ("reply.js", include_str!("../../../dashboard/js/reply.js")),
    ("status.js", include_str!("../../../dashboard/js/status.js")),
    ("texts.js", include_str!("../../../dashboard/js/texts.js")),
];
/// The base stylesheet (palette, layout, shared components); the pages link `CSS_FILES` after it.
pub const APP_CSS: &str = include_str!("../../../dashboard/app.css");
/// The per-page stylesheets, served at `/assets/css/{name}`, linked in this order after `app.css`.
pub const CSS_FILES: &[(&str, &str)] = &[
    (
        "queue.css",
        include_str!("../../../dashboard/css/queue.css"),
    ),
    (
        "detail.css",
        include_str!("../../../dashboard/css/detail.css"),
    ),
    (
        "pages.css",
        include_str!("../../../dashboard/css/pages.css"),
    ),
];
pub const LOGIN_HTML: &str = include_str!("../../../dashboard/login.html");

/// The CSP of the dashboard's own pages: our script and style only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    /// The specifiers of a module's static imports (`import { a } from './x.js';`).
    fn imports(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter(|l| l.starts_with("import "))
            .filter_map(|l| l.split(" from '").nth(1)?.strip_suffix("';"))
            .collect()
    }

    fn files_in(dir: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dashboard")
            .join(dir);
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_module_is_embedded_and_imported() {
        let embedded: Vec<&str> = JS_MODULES.iter().map(|(n, _)| *n).collect();
        let mut on_disk = embedded.clone();
        on_disk.sort_unstable();
        assert_eq!(
            files_in("js"),
            on_disk,
            "dashboard/js and assets::JS_MODULES differ"
        );

        let mut imported = Vec::new();
        for spec in imports(APP_JS) {
            let name = spec
                .strip_prefix("./js/")
                .unwrap_or_else(|| panic!("app.js imports {spec}"));
            imported.push(name);
        }
        for (file, body) in JS_MODULES {
            for spec in imports(body) {
                let name = spec
                    .strip_prefix("./")
                    .unwrap_or_else(|| panic!("{file} imports {spec}"));
                imported.push(name);
            }
        }
        for name in &imported {
            assert!(
                embedded.contains(name),
                "{name} is imported but not embedded"
            );
        }
        for name in &embedded {
            assert!(
                imported.contains(name),
                "{name} is embedded but nothing imports it"
            );
        }
    }

    #[test]
    fn both_pages_link_every_stylesheet_in_order() {
        let mut names: Vec<&str> = CSS_FILES.iter().map(|(n, _)| *n).collect();
        let order: Vec<String> = std::iter::once("/assets/app.css".to_owned())
            .chain(names.iter().map(|n| format!("/assets/css/{n}")))
            .collect();
        names.sort_unstable();
        assert_eq!(
            files_in("css"),
            names,
            "dashboard/css and assets::CSS_FILES differ"
        );
        for (page, html) in [("index.html", INDEX_HTML), ("login.html", LOGIN_HTML)] {
            let linked: Vec<&str> = html
                .lines()
                .filter_map(|l| l.trim().strip_prefix("<link rel=\"stylesheet\" href=\""))
                .filter_map(|l| l.strip_suffix("\">"))
                .collect();
            assert_eq!(linked, order, "{page}'s stylesheets");
        }
        assert!(INDEX_HTML.contains("<script type=\"module\" src=\"/assets/app.js\"></script>"));
    }
}
