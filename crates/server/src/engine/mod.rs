//! The binding to the keel engine.

pub(crate) mod backend;
pub(crate) mod store;
