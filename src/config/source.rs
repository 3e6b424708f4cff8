//! Reading variables: a lookup function (the process environment, or a map in tests)
//! and typed getters that name the variable in every error.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {name} has an invalid value: {reason}")]
    Invalid { name: String, reason: String },
    #[error("cannot read {name} from {path}: {source}")]
    File {
        name: String,
        path: String,
        source: std::io::Error,
    },
}

pub(super) fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Reads variables through a lookup function, so tests can feed a map instead of the
/// process environment.
pub(super) struct Source<F: Fn(&str) -> Option<String>>(pub(super) F);

impl<F: Fn(&str) -> Option<String>> Source<F> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub(super) fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e: T::Err| invalid(name, e.to_string())),
        }
    }

    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(name, format!("expected true or false, got {v:?}"))),
        }
    }

    pub(super) fn millis(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        Ok(Duration::from_millis(self.parse(name, default)?))
    }

    pub(super) fn seconds(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(name, default.as_secs())?))
    }

    /// A secret from `NAME` or from the file named by `NAME_FILE` (Podman secrets).
    pub(super) fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        if let Some(v) = self.get(name) {
            return Ok(Some(SecretString::from(v)));
        }
        let file_var = format!("{name}_FILE");
        match self.get(&file_var) {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                    name: file_var.clone(),
                    path: path.clone(),
                    source,
                })?;
                Ok(Some(SecretString::from(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                )))
            }
        }
    }

    pub(super) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An address or a network in CIDR notation.
pub(super) fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}
