//! The commands: the table (`table.rs`) and their handlers.

pub mod arguments;
pub mod config;
pub mod data;
pub(crate) mod debug;
pub(crate) mod glob;
pub mod lcs;
pub mod object_info;
pub(crate) mod scan;
pub mod table;
