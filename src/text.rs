//! PURE: bounding free text before it lands in a status field, an Event, a log or a table cell.
//! A cut is always marked with `…`, and never splits a character. And counting in words people
//! read ("1 rule", "3 rules").

use std::borrow::Cow;

/// `text` in at most `max` characters (the `…` that marks a cut included).
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    // No more bytes than `max` means no more characters: nothing to count.
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", &text[..end]))
        }
    }
}

/// `text` in at most `max` bytes of UTF-8 (the `…` that marks a cut included): for limits
/// counted in bytes (an Event's note is at most 1 KiB).
pub fn clip_bytes(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// Characters that rewrite what a terminal or a reader shows rather than showing themselves:
/// controls (C0, DEL, C1 — ESC starts colour and cursor sequences, CR returns to the line's
/// start) and the invisible formatting marks that reorder or hide text (bidi embeddings,
/// overrides and isolates, zero-width characters, the BOM).
fn rewrites_display(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` with every such character shown as its escape (`\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`),
/// for output a person reads in a terminal: a table cell, a gate's answer, an error. A value
/// can then neither overwrite a line nor start one.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(rewrites_display) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if rewrites_display(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `html` (or any text a browser lays out) with every invisible mark that reorders or hides
/// text — bidi embeddings, overrides and isolates, zero-width characters, the BOM — and every
/// control but the line breaks and tabs HTML treats as spaces, shown as its escape
/// (`\u{202e}`). `ok\u{202e}deliaf` then reads as written, not as "okfailed". Our own markup
/// never contains such a character, so one pass over a rendered page reaches every name and
/// summary on it.
pub fn marks_shown(html: &str) -> Cow<'_, str> {
    let hidden = |c: char| rewrites_display(c) && !matches!(c, '\n' | '\r' | '\t');
    if !html.chars().any(hidden) {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len() + 16);
    for c in html.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `n` and the noun, singular for one: "1 rule", "0 rules", "3 rules".
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_say_one_in_the_singular() {
        assert_eq!(count(1, "rule", "rules"), "1 rule");
        assert_eq!(count(0, "rule", "rules"), "0 rules");
        assert_eq!(count(3, "approval", "approvals"), "3 approvals");
    }

    use super::*;

    #[test]
    fn marks_are_shown_and_line_breaks_kept() {
        assert_eq!(marks_shown("<p>ok</p>\n"), "<p>ok</p>\n");
        assert_eq!(
            marks_shown("<td>ok\u{202e}deliaf\u{200b}</td>\t\x1b"),
            "<td>ok\\u{202e}deliaf\\u{200b}</td>\t\\u{1b}"
        );
        assert!(matches!(marks_shown("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn inert_text_cannot_move_the_cursor_or_reorder_what_follows() {
        assert_eq!(inert("checkout 2.3.1"), "checkout 2.3.1");
        assert_eq!(
            inert("ok\x1b[2K\r\x1b[32mAllow\x1b[0m"),
            "ok\\u{1b}[2K\\r\\u{1b}[32mAllow\\u{1b}[0m"
        );
        assert_eq!(inert("a\nb\tc\u{7f}\u{9b}"), "a\\nb\\tc\\u{7f}\\u{9b}");
        assert_eq!(
            inert("ok\u{202e}deliaf\u{200b}"),
            "ok\\u{202e}deliaf\\u{200b}"
        );
        assert_eq!(
            inert("héllo — ✓"),
            "héllo — ✓",
            "printable text is kept as it is"
        );
    }

    #[test]
    fn cuts_are_marked_and_never_split_a_character() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééé", 2), "é…");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip_bytes("abc", 3), "abc");
        assert_eq!(clip_bytes("abcdef", 5), "ab…");
        assert_eq!(clip_bytes("aébcde", 6), "aé…");
        assert_eq!(clip_bytes("aébcde", 5), "a…");
    }
}
