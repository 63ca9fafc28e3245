//! PURE: bounding free text before it lands in a status field, an Event, a log or a table cell.
//! A cut is always marked with `…`, and never splits a character.

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

#[cfg(test)]
mod tests {
    use super::*;

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
