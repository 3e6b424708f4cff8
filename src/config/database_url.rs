//! The database URL as settings hold it.

/// A database connection URL; `Debug` hides its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same URL with `password` (percent-encoded as a URL needs), for a password kept
    /// apart from the URL; only a PostgreSQL URL has one.
    pub fn with_password(&self, password: &str) -> Result<DatabaseUrl, String> {
        let mut url = url::Url::parse(&self.0).map_err(|e| format!("the URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("only a postgres:// DATABASE_URL takes a password".into());
        }
        url.set_password(Some(password))
            .map_err(|()| "the URL cannot hold a password (no user?)".to_owned())?;
        Ok(DatabaseUrl(url.into()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("redacted"));
                u.to_string()
            }
            _ => self.0.clone(),
        };
        f.write_str(&shown)
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> DatabaseUrl {
        DatabaseUrl(url)
    }
}

impl PartialEq<&str> for DatabaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}
