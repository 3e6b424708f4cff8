//! Tracing (JSON logs in production, readable ones in development) and the metrics sink.

pub mod metrics;

use tracing::subscriber::set_global_default;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, Settings};

/// Crates that log request URIs (the embedded S3 server logs presigned query strings at
/// debug level): held at a level where they do not, whatever `COFFER_LOG` says.
const QUIET: &str =
    "s3s=warn,s3s_fs=warn,hyper=info,hyper_util=info,reqwest=info,h2=info,sqlx=warn";

/// A subscriber writing to `sink`; tests pass a buffer to read the logs back.
pub fn subscriber<W>(format: LogFormat, filter: &str, sink: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(format!("{filter},{QUIET}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")));
    let builder = fmt().with_env_filter(filter).with_writer(sink);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
        LogFormat::Pretty => Box::new(builder.with_target(false).finish()),
    }
}

/// Installs the process-wide subscriber (once, at start-up).
pub fn init(settings: &Settings) {
    let _ = set_global_default(subscriber(
        settings.log_format,
        &settings.log_filter,
        std::io::stdout,
    ));
}
