//! The storage adapters: every storage port ([`crate::ports::store`], and the signal
//! store of [`crate::ports::signals`]) over one DynamoDB table, and in memory for the
//! use-case tests.

#[cfg(feature = "aws")]
pub mod dynamodb;

pub mod memory;
