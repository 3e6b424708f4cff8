//! `cofferd`: the API server.
//! `cofferd [serve]`, `cofferd migrate`, `cofferd openapi`, `cofferd check-usage`,
//! `cofferd check-storage`, `cofferd admin create-user <name> [--admin]`,
//! `cofferd healthcheck` (exit 0 when this host's `/readyz` answers 200, else 1).

use coffer::config::Settings;
use coffer::startup::Application;

/// mimalloc instead of glibc's allocator: request handling allocates many small,
/// short-lived buffers across threads, where glibc spends a fifth of the CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    if command == "openapi" {
        println!("{}", coffer::routes::spec().to_pretty_json()?);
        return Ok(());
    }
    if command == "healthcheck" {
        // Only the listener's settings, and no logging: a container runtime runs this
        // every few seconds.
        let (host, port) = Settings::listener_from_env()?;
        std::process::exit(if coffer::cli::healthcheck(&host, port) {
            0
        } else {
            1
        });
    }
    let settings = Settings::from_env()?;
    coffer::telemetry::init(&settings);
    match command.as_str() {
        "serve" => {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?
        }
        "migrate" => coffer::db::migrate(&coffer::db::connect(&settings).await?).await?,
        "check-usage" => {
            if !coffer::cli::check_usage(&settings).await? {
                std::process::exit(1);
            }
        }
        "admin" => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            coffer::cli::admin(&settings, &args).await?
        }
        "check-storage" => {
            if !coffer::cli::check_storage(&settings).await? {
                std::process::exit(1);
            }
        }
        other => {
            return Err(format!(
            "unknown command {other:?}; use serve, migrate, openapi, admin, check-usage, check-storage or healthcheck"
        )
            .into())
        }
    }
    Ok(())
}
