//! Object keys are built by the server, never by the client: `<user_id>/<uuid4>_<safe_name>`.

use uuid::Uuid;

/// Longest safe name kept in a key.
const MAX_SAFE_NAME: usize = 128;

/// Maps a display name to a key-safe name: only `[A-Za-z0-9._-]`, no `..`, no leading
/// dot, never empty, at most 128 bytes. Idempotent.
pub fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_SAFE_NAME));
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            c
        } else {
            '_'
        };
        // No runs of dots (so never `..`), and no leading dot.
        if c == '.' && (out.is_empty() || out.ends_with('.')) {
            continue;
        }
        out.push(c);
        if out.len() >= MAX_SAFE_NAME {
            break;
        }
    }
    if out.is_empty() {
        out.push_str("file");
    }
    out
}

/// A fresh key for a new object of `owner`.
pub fn object_key(owner: Uuid, display_name: &str) -> String {
    format!(
        "{}{}_{}",
        user_prefix(owner),
        Uuid::new_v4(),
        safe_name(display_name)
    )
}

/// Where every object of `owner` lives: deleting a user purges everything under it.
pub fn user_prefix(owner: Uuid) -> String {
    format!("{owner}/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn safe_names_are_safe(name in any::<String>()) {
            let s = safe_name(&name);
            prop_assert!(!s.is_empty());
            prop_assert!(!s.contains('/') && !s.contains('\\'));
            prop_assert!(!s.contains(".."));
            prop_assert!(!s.starts_with('.'));
            prop_assert!(!s.chars().any(|c| c.is_control()));
            prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
            prop_assert!(s.len() <= MAX_SAFE_NAME);
        }

        #[test]
        fn safe_name_is_idempotent(name in any::<String>()) {
            let once = safe_name(&name);
            prop_assert_eq!(safe_name(&once), once);
        }

        #[test]
        fn keys_live_under_the_owner(name in any::<String>()) {
            let owner = Uuid::new_v4();
            let key = object_key(owner, &name);
            let prefix = format!("{owner}/");
            prop_assert!(key.starts_with(&prefix));
            prop_assert_eq!(key.matches('/').count(), 1);
        }
    }

    #[test]
    fn examples() {
        assert_eq!(safe_name("report 2024.pdf"), "report_2024.pdf");
        assert_eq!(safe_name("../../etc/passwd"), "_._etc_passwd");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("résumé.txt"), "r_sum_.txt");
    }
}
