//! `fitbridge-admin`: see `fitbridge-admin --help` ([`fitbridge_admin::cli`]).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

fn main() -> ExitCode {
    init_logs();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: no async runtime: {e}");
            return ExitCode::from(fitbridge_admin::EXIT_REFUSED);
        }
    };
    let context = fitbridge_admin::Context::from_process();
    let code = runtime.block_on(fitbridge_admin::run(
        &args,
        &context,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ));
    ExitCode::from(code)
}

/// The token grant's error only says that the request failed; what the token endpoint
/// answered (`status`, and an OAuth error body such as `invalid_grant`, which never
/// echoes the assertion) it logs at `warn`. Those lines, and only those, go to stderr as
/// the operator's diagnosis; `RUST_LOG` replaces the selection.
fn init_logs() {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .compact();
    match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(filter) => tracing_subscriber::registry()
            .with(stderr.with_filter(filter))
            .init(),
        Err(_) => {
            let token_endpoint_answers = tracing_subscriber::filter::filter_fn(|event| {
                event.target().starts_with("gcp_auth")
                    && *event.level() <= tracing::Level::WARN
                    && event.fields().field("body").is_some()
            });
            tracing_subscriber::registry()
                .with(stderr.with_filter(token_endpoint_answers))
                .init()
        }
    }
}
