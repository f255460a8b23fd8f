//! The marketing adapters: the marketing ports ([`crate::ports::marketing`]) over SAP
//! Marketing Cloud, and in memory for the use-case tests.

pub mod memory;
pub mod sap;
