//! The use cases: what fitbridge does, each over ports only. A use case never imports an
//! adapter, the registry, configuration, or another use case: where one needs another
//! (the worker's import needs fresh tokens and the signals), it reaches it through a port.

pub mod connect;
pub mod daily;
pub mod refresh;
pub mod signals;
pub mod sync;
pub mod tokens;
pub mod webhook;
