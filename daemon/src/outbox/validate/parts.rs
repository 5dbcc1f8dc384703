//! Splitting a long chat message into numbered parts (`(1/3) ...`), when the
//! human or agent asked for it instead of a refusal. The split is a pure
//! function of the text, so the approved item, its preview and what the
//! transports post are the same parts in the same order.

/// The most parts one item may be split into.
pub const MAX_PARTS: usize = 10;

/// `text` as parts of at most `max_chars` characters each, prefix
/// included; one part (the text as it is) when it fits. Breaks at the last
/// paragraph, line or space inside a part's budget, mid-word only when a
/// part has no space at all.
pub fn split(text: &str, max_chars: usize) -> Vec<String> {
    if text.chars().count() <= max_chars {
        return vec![text.to_owned()];
    }
    // The prefix's width depends on the count, which depends on the
    // prefix: grow the assumed count until the split agrees with it.
    let mut assumed = 2;
    loop {
        let prefix_len = format!("({assumed}/{assumed}) ").chars().count();
        let bodies = chunks(text, max_chars.saturating_sub(prefix_len).max(1));
        if bodies.len() <= assumed || bodies.len() > 10_000 {
            let n = bodies.len();
            return bodies
                .into_iter()
                .enumerate()
                .map(|(i, b)| format!("({}/{n}) {b}", i + 1))
                .collect();
        }
        assumed = bodies.len();
    }
}

fn chunks(text: &str, budget: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.chars().count() <= budget {
            out.push(rest.to_owned());
            break;
        }
        let end = rest
            .char_indices()
            .nth(budget)
            .map_or(rest.len(), |(i, _)| i);
        let window = &rest[..end];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| window.rfind(sep).filter(|&at| at > 0))
            .unwrap_or(end);
        out.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part_unchanged() {
        assert_eq!(split("hello", 4096), vec!["hello"]);
        let exact = "x".repeat(4096);
        assert_eq!(split(&exact, 4096), vec![exact.clone()]);
    }

    #[test]
    fn long_text_becomes_numbered_parts_within_the_limit_and_loses_nothing() {
        let words: Vec<String> = (0..3000).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let parts = split(&text, 4096);
        assert_eq!(parts.len(), 7, "{} characters", text.len());
        for (i, p) in parts.iter().enumerate() {
            assert!(p.chars().count() <= 4096, "part {i} is {}", p.len());
            assert!(p.starts_with(&format!("({}/7) ", i + 1)), "{}", &p[..10]);
        }
        let rejoined: Vec<&str> = parts
            .iter()
            .map(|p| p.split_once(") ").unwrap().1)
            .flat_map(|b| b.split(' '))
            .collect();
        assert_eq!(
            rejoined,
            words.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }

    #[test]
    fn breaks_prefer_paragraphs_and_fall_back_to_mid_word() {
        let text = format!("{}\n\n{}", "a ".repeat(30).trim(), "b".repeat(50));
        let parts = split(&text, 70);
        assert_eq!(parts[0], format!("(1/2) {}", "a ".repeat(30).trim()));
        assert_eq!(parts[1], format!("(2/2) {}", "b".repeat(50)));
        let parts = split(&"é".repeat(100), 40);
        assert!(parts.iter().all(|p| p.chars().count() <= 40));
        let bodies: String = parts
            .iter()
            .map(|p| p.split_once(") ").unwrap().1)
            .collect();
        assert_eq!(bodies, "é".repeat(100));
    }

    #[test]
    fn the_prefix_grows_with_the_count() {
        let text = "y ".repeat(2000);
        let parts = split(&text, 100);
        assert!(parts.len() >= 10);
        assert!(parts.iter().all(|p| p.chars().count() <= 100));
        assert!(
            parts
                .last()
                .unwrap()
                .starts_with(&format!("({n}/{n}) ", n = parts.len()))
        );
    }
}
