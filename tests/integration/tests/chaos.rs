//! A small chaos run in the default test run, so the harness behind `tests/local/chaos.sh`
//! (10,000 notifications, three seeds) keeps working: the same faults, fewer people.

use std::time::Duration;

use fitbridge_integration::chaos::{self, ChaosConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_chaos_run_loses_nothing_and_duplicates_nothing() {
    let report = chaos::run(ChaosConfig {
        notifications: 400,
        people: 20,
        time_limit: Duration::from_secs(10 * 60),
        ..ChaosConfig::new(11)
    })
    .await;
    eprintln!("{report}");
    assert!(report.drained, "{report}");
    assert!(report.expected > 0, "{report}");
    assert_eq!(report.imported, report.expected, "{report}");
    assert!(report.missing.is_empty(), "{report}");
    assert!(report.duplicated.is_empty(), "{report}");
    assert_eq!(report.dead_letters, 0, "{report}");
    assert!(report.passed(), "{report}");
}
