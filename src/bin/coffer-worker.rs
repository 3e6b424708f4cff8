//! `coffer-worker`: claims tasks from the SQL queue (zip bundles, purges) and reconciles
//! expired uploads. Same settings as `cofferd`; several replicas share the queue.
//! `cofferd` creates and migrates the schema: start it first.

use coffer::config::Settings;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    coffer::telemetry::init(&settings);
    let worker = coffer::worker_app::WorkerApp::build(&settings).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        coffer::startup::shutdown_signal().await;
        tracing::info!("stopping: no new tasks; the one in hand finishes or is released");
        let _ = stop.send(true);
    });
    worker.run_until_stopped(stopped).await;
    Ok(())
}
