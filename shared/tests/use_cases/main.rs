//! The use cases (sync and its retention, tokens, connect, refresh, webhook, daily, and a
//! property test of the connection lifecycle across them) on in-memory ports: plain
//! `cargo test -p fitbridge`, no emulator, milliseconds. The emulator suites in
//! `tests/integration` prove the adapters and the end-to-end flows.

mod support;

mod architecture;

mod budget;
mod calendar;
mod connect;
mod daily;
mod lifecycle;
mod memory_store;
mod refresh;
mod retention;
mod signals;
mod sync;
mod tokens;
mod webhook;
