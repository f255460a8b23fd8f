//! The Google Health API v4, successor of the Fitbit Web API (contract:
//! `tests/contracts/google-health/health.v4.discovery.json`; facts: `tests/contracts/FACTS.md` §2).

pub mod signature;
