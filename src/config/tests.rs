//! Reading settings from variables: defaults, checks, secrets from files, redaction.

use super::*;
use std::collections::HashMap;

fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(move |k| map.get(k).cloned())
}

#[test]
fn defaults_use_sqlite_under_data_dir() {
    let s = from(&[]).expect("defaults are valid");
    assert_eq!(s.database_url, "sqlite://./data/coffer.db?mode=rwc");
    assert_eq!(s.access_token_ttl, Duration::from_secs(300));
    assert!(s.s3.endpoint.is_none());
}

#[test]
fn production_refuses_short_secret() {
    let short = from(&[("COFFER_ENV", "production"), ("COFFER_JWT_SECRET", "short")]);
    assert!(
        matches!(short, Err(ConfigError::Invalid { ref name, .. }) if name == "COFFER_JWT_SECRET")
    );
    let missing = from(&[("COFFER_ENV", "production")]);
    assert!(missing.is_err());
    let ok = from(&[
        ("COFFER_ENV", "production"),
        ("COFFER_JWT_SECRET", &"x".repeat(32)),
    ]);
    assert!(ok.is_ok());
}

#[test]
fn presign_ttl_is_capped_at_seven_days() {
    assert!(from(&[("COFFER_PRESIGN_TTL_SECONDS", "604801")]).is_err());
    assert!(from(&[("COFFER_PRESIGN_TTL_SECONDS", "604800")]).is_ok());
    assert!(from(&[("COFFER_MULTIPART_THRESHOLD_BYTES", "1000")]).is_err());
}

#[test]
fn access_token_ttl_is_capped() {
    assert!(from(&[("COFFER_ACCESS_TOKEN_TTL_SECONDS", "601")]).is_err());
    assert!(from(&[("COFFER_ACCESS_TOKEN_TTL_SECONDS", "600")]).is_ok());
}

#[test]
fn secrets_come_from_files() {
    let dir = std::env::temp_dir().join(format!("coffer-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("secret");
    std::fs::write(&path, format!("{}\n", "k".repeat(40))).expect("write secret");
    let s = from(&[("COFFER_JWT_SECRET_FILE", path.to_str().expect("utf-8 path"))]).expect("valid");
    assert_eq!(
        s.jwt_secret.expect("secret").expose_secret(),
        "k".repeat(40)
    );
    // The database URL holds a password: a Podman secret too.
    let url = dir.join("database-url");
    std::fs::write(&url, "postgres://coffer:pw@127.0.0.1:5432/coffer\n").expect("write url");
    let s = from(&[("DATABASE_URL_FILE", url.to_str().expect("utf-8 path"))]).expect("valid");
    assert_eq!(
        s.database_url.as_str(),
        "postgres://coffer:pw@127.0.0.1:5432/coffer"
    );
    // Or the password alone, into a URL without one (percent-encoded).
    let password = dir.join("db-password");
    std::fs::write(&password, "p@ss/word\n").expect("write password");
    let apart = |url: &str| {
        from(&[
            ("DATABASE_URL", url),
            (
                "COFFER_DATABASE_PASSWORD_FILE",
                password.to_str().expect("utf-8 path"),
            ),
        ])
    };
    let s = apart("postgres://coffer@127.0.0.1:5432/coffer").expect("valid");
    assert_eq!(
        s.database_url.as_str(),
        "postgres://coffer:p%40ss%2Fword@127.0.0.1:5432/coffer"
    );
    assert!(apart("sqlite:///tmp/coffer.db").is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn trusted_proxies_parse_addresses_and_networks() {
    let s = from(&[("COFFER_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")]).expect("valid");
    assert_eq!(s.trusted_proxies.len(), 2);
    assert!(from(&[("COFFER_TRUSTED_PROXIES", "nonsense")]).is_err());
}

#[test]
fn debug_output_redacts_secrets() {
    let s = from(&[
        (
            "COFFER_JWT_SECRET",
            "super-secret-value-that-is-long-enough",
        ),
        ("DATABASE_URL", "postgres://u:hunter2@db/coffer"),
    ])
    .expect("valid");
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("super-secret"));
    assert!(!dbg.contains("hunter2"));
}

#[test]
fn an_identity_provider_needs_https_and_a_long_secret() {
    let secret = "s".repeat(32);
    let with = |url: &str, secret: &str| {
        from(&[
            ("COFFER_AUTH_EXTERNAL_URL", url),
            ("COFFER_AUTH_EXTERNAL_SECRET", secret),
        ])
    };
    let s = with("https://idp.uni.example/check", &secret).expect("valid");
    assert_eq!(s.auth_external.name, "external");
    assert_eq!(s.auth_external.timeout, Duration::from_secs(5));
    assert!(
        with("http://127.0.0.1:9000/check", &secret).is_ok(),
        "loopback"
    );
    assert!(
        with("http://idp.uni.example/check", &secret).is_err(),
        "plain http"
    );
    assert!(with("https://idp.uni.example/check", "short").is_err());
    assert!(from(&[("COFFER_AUTH_EXTERNAL_URL", "https://idp.uni.example/")]).is_err());
    let groups = from(&[
        ("COFFER_AUTH_EXTERNAL_URL", "https://idp.uni.example/"),
        ("COFFER_AUTH_EXTERNAL_SECRET", secret.as_str()),
        ("COFFER_AUTH_EXTERNAL_ADMIN_GROUPS", "hpc-admins, it"),
    ])
    .expect("valid");
    assert_eq!(groups.auth_external.admin_groups, ["hpc-admins", "it"]);
    assert!(from(&[]).expect("valid").auth_external.url.is_none());
}

#[test]
fn the_web_interface_is_served_from_its_own_address_unless_told_otherwise() {
    let own = from(&[("COFFER_PORT", "8443")]).expect("valid");
    assert_eq!(
        own.web_origins(),
        ["http://127.0.0.1:8443", "http://localhost:8443"]
    );
    let named = from(&[("COFFER_HOST", "files.lab"), ("COFFER_PORT", "80")]).expect("valid");
    assert_eq!(named.web_origins(), ["http://files.lab:80"]);
    let v6 = from(&[("COFFER_HOST", "fd00::7")]).expect("valid");
    assert_eq!(v6.web_origins(), ["http://[fd00::7]:8080"]);
    let told = from(&[(
        "COFFER_WEB_ORIGINS",
        "https://coffer.example.org, https://files.example.org",
    )])
    .expect("valid");
    assert_eq!(
        told.web_origins(),
        ["https://coffer.example.org", "https://files.example.org"]
    );
}
