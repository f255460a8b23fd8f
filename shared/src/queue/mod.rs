//! The queue adapters: the queue ports ([`crate::ports::queue`]) over SQS, and in memory.

pub mod memory;
pub mod sqs;
