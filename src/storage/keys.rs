//! Object keys are built by the server, never by the client: `<user_id>/<uuid4>_<safe_name>`.

use uuid::Uuid;

/// Longest safe name kept in a key. The display name lives in SQL; the key only hints
/// at it, so it stays short enough for every store: the embedded one derives metadata
/// file names from base64 of the whole key plus a multipart upload id, and 40 bytes
/// keep those within the file system's 255 (a key is then at most 114 bytes).
const MAX_SAFE_NAME: usize = 40;
/// Longest extension kept when a long name is shortened (`…_job.h5` stays `.h5`).
const MAX_KEPT_EXTENSION: usize = 10;

/// Maps a display name to a key-safe name: only `[A-Za-z0-9._-]`, no `..`, no leading
/// dot, never empty, at most [`MAX_SAFE_NAME`] bytes, keeping a short extension when it
/// shortens. Idempotent.
pub fn safe_name(name: &str) -> String {
    let full = sanitize(name);
    if full.len() <= MAX_SAFE_NAME {
        return full;
    }
    // All ASCII: byte offsets are char boundaries.
    let ext = full
        .rfind('.')
        .map(|i| &full[i..])
        .filter(|e| e.len() <= MAX_KEPT_EXTENSION)
        .unwrap_or("");
    let mut out = full[..MAX_SAFE_NAME - ext.len()]
        .trim_end_matches('.')
        .to_owned();
    out.push_str(ext);
    out
}

/// Replaces every character outside `[A-Za-z0-9._-]` with `_` and drops dots that
/// would lead or repeat.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
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
        // Time-ordered: the objects of one batch of uploads sit side by side in a
        // listing, so a batch complete checks them with one LIST instead of a HEAD each.
        Uuid::now_v7(),
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
        let long = format!("{}.h5", "energy_profile_of_job_".repeat(11));
        assert_eq!(safe_name(&long), format!("{}.h5", &long[..37]));
        assert_eq!(safe_name(&"x".repeat(300)).len(), MAX_SAFE_NAME);
    }
}
