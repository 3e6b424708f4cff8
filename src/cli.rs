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
