//! `cofferd` subcommands besides `serve`.

use crate::config::Settings;

/// `cofferd check-usage`: recomputes usage from the tables; exit status 1 on drift.
pub async fn check_usage(settings: &Settings) -> Result<bool, Box<dyn std::error::Error>> {
    let db = crate::db::connect(settings).await?;
    let drifts = crate::quotas::service::check_usage(&db).await?;
    if drifts.is_empty() {
        println!("usage is consistent with files and open uploads");
        return Ok(true);
    }
    println!("user\tfield\tstored\tcomputed");
    for d in &drifts {
        let rows = [
            ("used_bytes", d.stored.used_bytes, d.computed.used_bytes),
            (
                "used_objects",
                d.stored.used_objects,
                d.computed.used_objects,
            ),
            (
                "reserved_bytes",
                d.stored.reserved_bytes,
                d.computed.reserved_bytes,
            ),
            (
                "reserved_objects",
                d.stored.reserved_objects,
                d.computed.reserved_objects,
            ),
        ];
        for (field, stored, computed) in rows.into_iter().filter(|(_, s, c)| s != c) {
            println!("{}\t{field}\t{stored}\t{computed}", d.username);
        }
    }
    println!("{} user(s) drifted", drifts.len());
    Ok(false)
}

/// What the storage check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StorageReport {
    /// Objects no file row, open upload or scheduled purge accounts for.
    pub orphans: Vec<String>,
    /// Active files whose object is missing.
    pub missing: Vec<String>,
}

/// Compares the objects under `prefix` (all: "") with the tables.
pub async fn storage_report(
    db: &sea_orm::DatabaseConnection,
    store: &dyn crate::storage::ObjectStore,
    prefix: &str,
) -> Result<StorageReport, Box<dyn std::error::Error>> {
    use std::collections::HashSet;
    let objects: HashSet<String> = store
        .list(prefix)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let rows = crate::files::repo::object_keys(db).await?;
    let mut expected: HashSet<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    expected.extend(crate::uploads::repo::open_keys(db).await?);
    // The objects of trashed files (on the primary store, or released to the cloud).
    let trashed = crate::trash::repo::all_keys(db).await?;
    expected.extend(trashed.iter().cloned());
    // Objects a queued purge will delete: its keys, and all under its prefix (a deleted
    // user's).
    let mut purged_prefixes = Vec::new();
    for task in crate::tasks::repo::pending_of_kind(db, crate::tasks::KIND_PURGE).await? {
        if let Some(purge) = crate::tasks::purge::PurgePayload::of(&task) {
            expected.extend(purge.keys);
            purged_prefixes.extend(purge.prefix.filter(|p| !p.is_empty()));
        }
    }
    let mut report = StorageReport {
        orphans: objects
            .iter()
            .filter(|k| !expected.contains(*k))
            .filter(|k| !purged_prefixes.iter().any(|p| k.starts_with(p.as_str())))
            .cloned()
            .collect(),
        missing: rows
            .into_iter()
            .filter(|(k, state)| {
                k.starts_with(prefix)
                    && *state == crate::files::repo::FileState::Active
                    && !objects.contains(k)
            })
            .map(|(k, _)| k)
            .collect(),
    };
    report.orphans.sort();
    report.missing.sort();
    Ok(report)
}

/// Compares the cloud tier's objects under `prefix` with the copy rows.
pub async fn cloud_report(
    db: &sea_orm::DatabaseConnection,
    cloud: &dyn crate::storage::ObjectStore,
    prefix: &str,
) -> Result<StorageReport, Box<dyn std::error::Error>> {
    use std::collections::HashSet;
    let objects: HashSet<String> = cloud
        .list(prefix)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let rows = crate::tiering::repo::cloud_keys(db).await?;
    let mut expected: HashSet<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    expected.extend(crate::trash::repo::all_keys(db).await?);
    let mut purged_prefixes = Vec::new();
    for task in crate::tasks::repo::pending_of_kind(db, crate::tasks::KIND_PURGE).await? {
        if let Some(purge) = crate::tasks::purge::PurgePayload::of(&task) {
            if purge.only == Some(crate::entity::file_copies::CopyLocation::Primary) {
                continue;
            }
            expected.extend(purge.keys);
            purged_prefixes.extend(purge.prefix.filter(|p| !p.is_empty()));
        }
    }
    let mut report = StorageReport {
        orphans: objects
            .iter()
            .filter(|k| !expected.contains(*k))
            .filter(|k| !purged_prefixes.iter().any(|p| k.starts_with(p.as_str())))
            .cloned()
            .collect(),
        missing: rows
            .into_iter()
            .filter(|(k, verified)| *verified && k.starts_with(prefix) && !objects.contains(k))
            .map(|(k, _)| k)
            .collect(),
    };
    report.orphans.sort();
    report.missing.sort();
    Ok(report)
}

/// `cofferd check-storage`: objects without a row and rows without an object, in the
/// primary store and, when one is configured, the cloud tier; exit status 1 when there
/// are any. With the embedded store, cofferd must be running.
pub async fn check_storage(settings: &Settings) -> Result<bool, Box<dyn std::error::Error>> {
    let db = crate::db::connect(settings).await?;
    let store = crate::storage::connect::connect(settings)?;
    let mut reports = vec![("", storage_report(&db, store.as_ref(), "").await?)];
    if let Some(cloud) = crate::storage::connect::connect_tier(settings)? {
        reports.push(("cloud tier: ", cloud_report(&db, cloud.as_ref(), "").await?));
    }
    let mut clean = true;
    for (store, report) in &reports {
        for key in &report.orphans {
            println!("{store}object without a row\t{key}");
        }
        for key in &report.missing {
            println!("{store}row without an object\t{key}");
        }
        println!(
            "{store}{} orphaned object(s), {} missing object(s)",
            report.orphans.len(),
            report.missing.len()
        );
        clean &= report.orphans.is_empty() && report.missing.is_empty();
    }
    Ok(clean)
}

/// `cofferd admin create-user <username> [--admin]`: the password is read from the
/// terminal (twice, not echoed) or from stdin, never from the command line.
pub async fn admin(settings: &Settings, args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::{BufRead as _, IsTerminal as _};
    let usage = "usage: cofferd admin create-user <username> [--admin]";
    let (Some("create-user"), Some(username)) = (args.first().map(String::as_str), args.get(1))
    else {
        return Err(usage.into());
    };
    let mut role = crate::admin::Role::User;
    for flag in &args[2..] {
        match flag.as_str() {
            "--admin" => role = crate::admin::Role::Admin,
            other => return Err(format!("unknown option {other:?}; {usage}").into()),
        }
    }
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Repeat it: ")? != first {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let db = crate::db::connect(settings).await?;
    crate::db::migrate(&db).await?;
    let hasher = crate::auth::password::PasswordHasher::new(1)?;
    let runtime = crate::runtime::Runtime::new(db.clone(), settings);
    let user = crate::auth::service::create_account(
        &db,
        &hasher,
        &runtime,
        crate::auth::service::NewAccount {
            username,
            password: &secrecy::SecretString::from(password),
            email: None,
            role: Some(role),
        },
    )
    .await?;
    println!(
        "created {} ({}) with role {}",
        user.username, user.id, user.role
    );
    Ok(())
}

/// `cofferd healthcheck`: asks this host's `cofferd` for `/readyz` on the configured
/// port; true on `200`. For a container's health check, so an image needs no curl or
/// shell. A listener on every address is asked on loopback.
pub fn healthcheck(host: &str, port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
    let addr = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => match (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
        {
            Some(a) => a,
            None => {
                eprintln!("unhealthy: cannot resolve {host}");
                return false;
            }
        },
    };
    let asked = TcpStream::connect_timeout(&addr, TIMEOUT).and_then(|mut s| {
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        write!(
            s,
            "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    });
    match asked {
        Ok(head) if head.starts_with("HTTP/1.1 200") => {
            println!("healthy: {addr} answers /readyz with 200");
            true
        }
        Ok(head) => {
            let status = head.lines().next().unwrap_or("no answer");
            eprintln!("unhealthy: {addr} answers /readyz with {status:?}");
            false
        }
        Err(e) => {
            eprintln!("unhealthy: {addr}: {e}");
            false
        }
    }
}
