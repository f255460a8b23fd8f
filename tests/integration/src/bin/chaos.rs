//! The chaos run, for each seed given (default 1 2 3): see `fitbridge_integration::chaos`.
//! Needs the local stack (`tests/local/up.sh`); `tests/local/chaos.sh` brings it up.
//!
//! `chaos [--notifications N] [--people N] [--workers N] [SEED ...]`

use std::process::ExitCode;

use fitbridge_integration::chaos::{self, ChaosConfig, Report};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut seeds = Vec::new();
    let mut template = ChaosConfig::new(0);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match arg.as_str() {
            "--notifications" => template.notifications = number("--notifications"),
            "--people" => template.people = number("--people"),
            "--workers" => template.workers = number("--workers"),
            seed => seeds.push(seed.parse().expect("a seed is a number")),
        }
    }
    if seeds.is_empty() {
        seeds = vec![1, 2, 3];
    }
    let mut reports = Vec::new();
    for seed in seeds {
        let report = chaos::run(ChaosConfig { seed, ..template }).await;
        eprintln!("\n{report}");
        reports.push(report);
    }
    println!("{}", Report::header());
    for report in &reports {
        println!("{}", report.row());
    }
    if reports.iter().all(Report::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
