//! The network: the listener, the event loops, connections.

pub(crate) mod affinity;
pub(crate) mod commit_pool;
pub(crate) mod connection;
pub(crate) mod event_loop;
pub(crate) mod metrics;
pub(crate) mod pubsub;
pub(crate) mod server;
