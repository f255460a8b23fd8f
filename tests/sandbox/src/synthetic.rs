//! Building blocks of the provider sandboxes' synthetic data: the deterministic generator
//! ([`Seed`]) and the shape of a synthetic night ([`sleep_cycles`]).
//!
//! Invariants:
//! - A seed's sequence depends only on the parts it is made from (e.g. user, day, kind), so
//!   a day answers the same across runs and sandbox instances.
//! - Parts are joined with U+001F, which no id or date contains: `["ab", "c"]` and
//!   `["a", "bc"]` seed differently.
//! - The algorithm (SHA-256 of the parts, then SplitMix64) is fixed here rather than taken
//!   from the `rand` crate, so values do not change when a dependency does.
//! - The stages of a night add up to exactly the minutes they were given.

use sha2::{Digest, Sha256};

pub(crate) struct Seed(u64);

impl Seed {
    pub(crate) fn new(parts: &[&str]) -> Seed {
        let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Seed(u64::from_be_bytes(first))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias is irrelevant for test data).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// An id of 16 lowercase hex digits (valid as a Google Health data point id).
    pub(crate) fn id(&mut self) -> String {
        format!("{:016x}", self.next())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SleepStage {
    Awake,
    Light,
    Deep,
    Rem,
}

/// `total` split into `n` parts that differ by at most one.
fn split(total: u64, n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| total / n + u64::from(i < total % n))
        .collect()
}

/// A night's stages in order: a first awakening, then four sleep cycles (light, deep, light,
/// REM, a short awakening), each kind's minutes spread evenly over its occurrences. Stages
/// of 0 minutes are kept; the providers leave them out of their answers.
pub(crate) fn sleep_cycles(awake: u64, light: u64, deep: u64, rem: u64) -> Vec<(SleepStage, u64)> {
    let light = split(light, 8);
    let deep = split(deep, 4);
    let rem = split(rem, 4);
    let awake = split(awake, 5);
    let mut stages = vec![(SleepStage::Awake, awake[0])];
    for cycle in 0..4 {
        stages.extend([
            (SleepStage::Light, light[2 * cycle]),
            (SleepStage::Deep, deep[cycle]),
            (SleepStage::Light, light[2 * cycle + 1]),
            (SleepStage::Rem, rem[cycle]),
            (SleepStage::Awake, awake[cycle + 1]),
        ]);
    }
    stages
}
