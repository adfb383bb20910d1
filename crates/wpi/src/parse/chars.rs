//! Which characters XML 1.0 allows, and where a message first breaks the rule.

/// The byte position of the first character XML 1.0 forbids (see [`is_xml_char`]), read byte by
/// byte: in UTF-8 the forbidden characters are the C0 controls other than tab, line feed and
/// carriage return (one byte each) and U+FFFE/U+FFFF (`EF BF BE`, `EF BF BF`); a `str` holds no
/// surrogates. Every message is checked whole before parsing, so this runs over every byte a
/// phone sends.
pub(super) fn first_forbidden_char(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().find_map(|(position, &byte)| match byte {
        b'\t' | b'\n' | b'\r' => None,
        0..0x20 => Some(position),
        0xEF if matches!(bytes.get(position + 1..position + 3), Some([0xBF, 0xBE | 0xBF])) => Some(position),
        _ => None,
    })
}

/// Whether `c` may appear in an XML 1.0 document (the `Char` production).
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML's whitespace (the `S` production).
pub(super) fn is_xml_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_scan_finds_what_the_char_production_forbids() {
        let samples = [
            "plain",
            "tab\tnl\ncr\r",
            "nul\0",
            "bell\u{7}x",
            "del\u{7f}",
            "c1\u{85}",
            "\u{d7ff}\u{e000}",
            "a\u{fffd}b",
            "a\u{fffe}b",
            "a\u{ffff}",
            "\u{10000}\u{10ffff}",
            "é\u{1f}",
            "\u{efbf}",
            "﾿\u{fffe}",
        ];
        for sample in samples {
            let by_char = sample.char_indices().find(|&(_, c)| !is_xml_char(c)).map(|(at, _)| at);
            assert_eq!(first_forbidden_char(sample), by_char, "{sample:?}");
        }
    }

    #[test]
    fn xml_char_production() {
        assert!(is_xml_char('a') && is_xml_char('\t') && is_xml_char('\u{10FFFF}'));
        assert!(!is_xml_char('\u{0}') && !is_xml_char('\u{1F}') && !is_xml_char('\u{FFFE}'));
    }
}
