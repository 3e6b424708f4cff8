//! Display names: kept as the user wrote them (Unicode welcome), but never empty, `.`,
//! `..`, with a path separator or a control character, or longer than 255 bytes.

use super::FileError;

pub const MAX_NAME_BYTES: usize = 255;

/// Validates a display name; trims surrounding white space. Idempotent on its output.
pub fn display_name(raw: &str) -> Result<String, FileError> {
    let name = raw.trim();
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
