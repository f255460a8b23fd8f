//! The counters of the provider sandboxes' stats: how often something happened, by a key
//! such as a user id, a grant type or an API method, and for nested counters by a second
//! key under the first.
//!
//! Invariants: a key that was never bumped counts 0, and counts only grow until the sandbox
//! is reset.

use std::collections::BTreeMap;

pub(crate) type Counts = BTreeMap<String, u64>;

pub(crate) fn bump(counts: &mut Counts, key: &str) {
    *counts.entry(key.to_owned()).or_default() += 1;
}

pub(crate) fn count(counts: &Counts, key: &str) -> u64 {
    counts.get(key).copied().unwrap_or(0)
}

/// The count of `inner` under `outer`.
pub(crate) fn nested_count(counts: &BTreeMap<String, Counts>, outer: &str, inner: &str) -> u64 {
    counts
        .get(outer)
        .map_or(0, |inner_counts| count(inner_counts, inner))
}

/// The counts under `outer` whose inner key passes `keep`, added up.
pub(crate) fn nested_sum(
    counts: &BTreeMap<String, Counts>,
    outer: &str,
    keep: impl Fn(&str) -> bool,
) -> u64 {
    counts.get(outer).map_or(0, |inner_counts| {
        inner_counts
            .iter()
            .filter(|(inner, _)| keep(inner))
            .map(|(_, n)| n)
            .sum()
    })
}
