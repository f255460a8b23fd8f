//! What SQS did with a case's work (the decisions of its deliveries, the retry queue, what
//! was left), against the fate the case expects.

use fitbridge::inbound::sqs::{backoff, Decision, BACKOFF_BASE};
use fitbridge_integration::in_process::{Run, MAX_RECEIVE_COUNT};

use crate::table::Fate;

/// Each decision hands the message back with the backoff of its delivery (30 s, 60 s, …).
fn backing_off(decisions: &[Decision]) -> bool {
    decisions
        .iter()
        .enumerate()
        .all(|(i, d)| *d == Decision::RedeliverAfter(backoff(BACKOFF_BASE, i as u32 + 1)))
}

pub fn fate_matches(fate: &Fate, run: &Run) -> bool {
    if run.unsettled {
        return false;
    }
    let d = &run.decisions;
    let max = MAX_RECEIVE_COUNT as usize;
    let clean = run.leftover.dead() == 0 && run.leftover.delayed.is_empty();
    match fate {
        Fate::Done => d.as_slice() == [Decision::Delete] && clean && run.retries == 0,
        Fate::DeadLetter => {
            d.len() == max && backing_off(d) && run.leftover.dead() == 1 && run.retries == 0
        }
        Fate::BackoffThenDone(n) => {
            d.len() == n + 1 && backing_off(&d[..*n]) && d[*n] == Decision::Delete && clean
        }
        Fate::WaitsForReset(range) => {
            let (last, waits) = d.split_last().unwrap();
            d.len() == max
                && *last == Decision::Delete
                && waits.iter().all(
                    |w| matches!(w, Decision::RedeliverAfter(a) if range.contains(&a.as_secs())),
                )
                && run.leftover.delayed.len() == 1
                && run.leftover.dead() == 0
        }
        Fate::ViaRetryQueue => {
            d.iter().all(|x| *x == Decision::Delete) && run.retries == 1 && clean
        }
        Fate::RefreshedThenDeadLetter => {
            d.len() == max + 1
                && d[0] == Decision::Delete
                && backing_off(&d[1..])
                && run.retries == 1
                && run.leftover.dead() == 1
        }
    }
}

pub fn fate_name(fate: &Fate) -> String {
    match fate {
        Fate::Done => "done".into(),
        Fate::DeadLetter => "backoff to the DLQ".into(),
        Fate::BackoffThenDone(n) => format!("{n} backoff(s), then done"),
        Fate::WaitsForReset(r) => format!("waits {r:?} s, never the DLQ"),
        Fate::ViaRetryQueue => "via the retry queue".into(),
        Fate::RefreshedThenDeadLetter => "one refresh, then backoff to the DLQ".into(),
    }
}
