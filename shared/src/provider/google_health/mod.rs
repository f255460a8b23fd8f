//! The Google Health API v4, successor of the legacy wearable API (contract:
//! `tests/contracts/google-health/health.v4.discovery.json`; facts: `tests/contracts/FACTS.md` §2).

pub mod keyset;
pub mod signature;
