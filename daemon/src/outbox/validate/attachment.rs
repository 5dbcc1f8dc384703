//! The attachment list of an email, and the names and hashes the
//! attachment store relies on.

use super::{Limits, control_kind, shown, too_large};
use crate::error::{Error, Result};
use crate::outbox::model::Attachment;

/// Counts, sizes and well-formedness of the attachment list.
pub(super) fn check_attachments(attachments: &[Attachment], limits: &Limits) -> Result<()> {
    if attachments.len() > limits.max_attachments {
        return Err(too_large(
            "attachments",
            format!(
                "{} attachments; the limit is {}",
                attachments.len(),
                limits.max_attachments
            ),
            limits.max_attachments as u64,
        ));
    }
    let mut total: u64 = 0;
    for (i, a) in attachments.iter().enumerate() {
        let field = format!("attachments[{i}]");
        if !is_sha256_hex(&a.sha256) {
            return Err(Error::invalid(
                field,
                "is not an imported attachment (its sha256 is not 64 lowercase hex digits)",
            ));
        }
        check_filename(&field, &a.filename)?;
        if a.size > limits.max_attachment_bytes {
            return Err(too_large(
                &field,
                format!(
                    "is {} bytes; an attachment may be at most {} bytes",
                    a.size, limits.max_attachment_bytes
                ),
                limits.max_attachment_bytes,
            ));
        }
        total = total.saturating_add(a.size);
    }
    if total > limits.max_attachments_total_bytes {
        return Err(too_large(
            "attachments",
            format!(
                "are {total} bytes together; the limit is {}",
                limits.max_attachments_total_bytes
            ),
            limits.max_attachments_total_bytes,
        ));
    }
    Ok(())
}

/// 64 lowercase hex digits.
pub(in crate::outbox) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The name a recipient sees: non-empty, no control characters, no slash.
pub(in crate::outbox) fn check_filename(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(field, "the file name is empty"));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!(
                "the file name {} contains {}; rename the file",
                shown(name),
                control_kind(c)
            ),
        ));
    }
    if name
        .split_whitespace()
        .any(|w| w.chars().count() > super::MAX_HEADER_WORD_CHARS)
    {
        return Err(Error::invalid(
            field,
            format!(
                "the file name has a word over {} characters; rename the file",
                super::MAX_HEADER_WORD_CHARS
            ),
        ));
    }
    if name.contains('/') {
        return Err(Error::invalid(field, "the file name must not contain /"));
    }
    if super::looks_encoded(name) {
        return Err(super::encoded_refusal(field));
    }
    Ok(())
}
