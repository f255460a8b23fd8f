//! The use cases (sync and its retention, tokens, connect, refresh, webhook, daily) on
//! in-memory ports: plain `cargo test -p fitbridge`, no emulator, milliseconds. The
//! emulator suites in `tests/integration` prove the adapters and the end-to-end flows.

mod support;

mod architecture;

mod calendar;
mod connect;
mod daily;
mod memory_store;
mod refresh;
mod retention;
mod signals;
mod sync;
mod tokens;
mod webhook;
