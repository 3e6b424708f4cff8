//! Entry names of zip bundles: relative, `/`-separated display paths with nothing a
//! careless unzip could turn into a write outside its target (no absolute paths, no
//! `..`, no drive letters, no control characters), and no two alike.

use std::collections::HashSet;

/// One safe path from display-name segments.
pub fn entry_name(segments: &[&str]) -> String {
    let parts: Vec<String> = segments
        .iter()
        .flat_map(|s| s.split(['/', '\\']))
        .map(|s| {
            s.chars()
                .map(|c| if c.is_control() || c == ':' { '_' } else { c })
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty() && s != "." && s != "..")
        .collect();
    if parts.is_empty() {
        "file".to_owned()
    } else {
        parts.join("/")
    }
}

/// Makes names unique (case-insensitively, for the file systems that fold case) by
/// suffixing ` (1)`, ` (2)`, … before the extension.
pub fn dedupe(names: &mut [String]) {
    let mut seen: HashSet<String> = HashSet::new();
    for name in names.iter_mut() {
        if seen.insert(name.to_lowercase()) {
            continue;
        }
        let (stem, ext) = match name.rfind('.') {
            Some(dot) if dot > name.rfind('/').map_or(0, |s| s + 1) => name.split_at(dot),
            _ => (name.as_str(), ""),
        };
        let (stem, ext) = (stem.to_owned(), ext.to_owned());
        let mut n = 1;
        loop {
            let candidate = format!("{stem} ({n}){ext}");
            if seen.insert(candidate.to_lowercase()) {
                *name = candidate;
                break;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn attacks_are_defused() {
        assert_eq!(entry_name(&["../x"]), "x");
        assert_eq!(entry_name(&["/etc/passwd"]), "etc/passwd");
        assert_eq!(entry_name(&["a", "../../b"]), "a/b");
        assert_eq!(entry_name(&["C:\\Windows\\win.ini"]), "C_/Windows/win.ini");
        assert_eq!(entry_name(&["..", "."]), "file");
        assert_eq!(entry_name(&["dir", "tab\there"]), "dir/tab_here");
    }

    #[test]
    fn duplicates_get_suffixes() {
        let mut names = vec![
            "a.txt".to_owned(),
            "A.TXT".to_owned(),
            "a.txt".to_owned(),
            "dir.d/x".to_owned(),
            "dir.d/x".to_owned(),
        ];
        dedupe(&mut names);
        assert_eq!(
            names,
            ["a.txt", "A (1).TXT", "a (2).txt", "dir.d/x", "dir.d/x (1)"]
        );
    }

    proptest! {
        #[test]
        fn entry_names_are_relative_and_clean(segments in proptest::collection::vec(any::<String>(), 0..4)) {
            let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
            let name = entry_name(&refs);
            prop_assert!(!name.is_empty());
            prop_assert!(!name.starts_with('/'));
            prop_assert!(!name.contains('\\') && !name.contains(':'));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(name.split('/').all(|p| !p.is_empty() && p != "." && p != ".."));
        }

        #[test]
        fn dedupe_leaves_no_two_alike(names in proptest::collection::vec("[a-cA-C]{1,2}(\\.[a-c])?", 0..20)) {
            let mut names = names;
            dedupe(&mut names);
            let unique: HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
            prop_assert_eq!(unique.len(), names.len());
        }
    }
}
