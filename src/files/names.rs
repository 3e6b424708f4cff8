//! Display names: kept as the user wrote them (Unicode welcome, normalised to NFC so
//! two spellings of `café.txt` are one name in a folder), but never empty, `.`, `..`,
//! with a path separator, a control character, a bidirectional control or an invisible
//! character (`invoice\u{202E}fdp.exe` would show as `invoiceexe.pdf`), or longer than
//! 255 bytes.

use unicode_normalization::UnicodeNormalization as _;

use super::FileError;

pub const MAX_NAME_BYTES: usize = 255;

/// Characters that change how the rest of a name displays, or do not display at all:
/// bidirectional embeddings, overrides, isolates and marks; zero-width spaces and
/// joiners; the word joiner and invisible operators; the byte order mark.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Validates a display name; trims surrounding white space and normalises it to NFC.
/// Idempotent on its output.
pub fn display_name(raw: &str) -> Result<String, FileError> {
    let trimmed = raw.trim();
    // ASCII is NFC already: only other names pay for normalising.
    let nfc: String = if trimmed.is_ascii() {
        trimmed.to_owned()
    } else {
        trimmed.nfc().collect()
    };
    let name = nfc.as_str();
    let refuse = |why: &str| Err(FileError::InvalidName(format!("The name {why}.")));
    if name.is_empty() {
        return refuse("is empty");
    }
    if name == "." || name == ".." {
        return refuse("cannot be '.' or '..'");
    }
    if name.contains(['/', '\\']) {
        return refuse("cannot contain '/' or '\\'");
    }
    if name.chars().any(char::is_control) {
        return refuse("cannot contain control characters");
    }
    if name.chars().any(is_deceptive) {
        return refuse("cannot contain bidirectional controls or invisible characters");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse("is longer than 255 bytes");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn accepted_names_are_safe(raw in any::<String>()) {
            if let Ok(name) = display_name(&raw) {
                prop_assert!(!name.is_empty());
                prop_assert!(name != "." && name != "..");
                prop_assert!(!name.contains('/') && !name.contains('\\'));
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert!(name.len() <= MAX_NAME_BYTES);
            }
        }

        #[test]
        fn display_name_is_idempotent(raw in any::<String>()) {
            if let Ok(name) = display_name(&raw) {
                prop_assert_eq!(display_name(&name).ok(), Some(name));
            }
        }

        #[test]
        fn ordinary_names_pass(raw in "[A-Za-z0-9][A-Za-z0-9 ._()-]{0,60}[A-Za-z0-9]") {
            prop_assert_eq!(display_name(&raw).ok(), Some(raw));
        }
    }

    #[test]
    fn two_spellings_are_one_name() {
        let composed = display_name("caf\u{e9}.txt").expect("valid");
        let decomposed = display_name("cafe\u{301}.txt").expect("valid");
        assert_eq!(composed, decomposed);
        assert_eq!(composed, "café.txt");
    }

    #[test]
    fn refuses_names_that_display_as_something_else() {
        for bad in [
            "invoice\u{202E}fdp.exe",
            "a\u{200B}b",
            "\u{2066}x\u{2069}",
            "\u{FEFF}bom",
            "rlm\u{200F}",
        ] {
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_dangerous_names() {
        for bad in [
            "",
            "  ",
            ".",
            "..",
            "a/b",
            "..\\x",
            "tab\there",
            "nul\0",
            &"x".repeat(256),
        ] {
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            display_name(" résumé (final).pdf ").expect("valid"),
            "résumé (final).pdf"
        );
    }
}
