//! keel-server: the Redis-compatible protocol layer (issue 8, in progress).
