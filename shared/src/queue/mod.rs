//! The queue adapters: the queue ports ([`crate::ports::queue`]) over SQS, and in memory.

pub mod memory;
#[cfg(feature = "aws")]
pub mod sqs;
