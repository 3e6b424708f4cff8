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
    let db = coffer::db::connect(&settings).await?;
    let store = coffer::startup::connect_store(&settings)?;
    let gate = coffer::db::WriteGate::for_connection(&db);
    coffer::db::spawn_checkpointer(db.clone(), gate.clone());
    // The worker starts no uploads: the relaxed pool of upload starts is not needed.
    let uploads = coffer::uploads::UploadService::new(
        db.clone(),
        db.clone(),
        gate,
        store.clone(),
        settings.uploads.clone(),
        coffer::runtime::Runtime::new(db.clone(), &settings),
    );
    let worker = coffer::startup::build_worker(db, store, uploads, &settings);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        coffer::startup::shutdown_signal().await;
        tracing::info!("stopping: no new tasks; the one in hand finishes or is released");
        let _ = stop.send(true);
    });
    worker.run_until_stopped(stopped).await;
    Ok(())
}
