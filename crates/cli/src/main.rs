//! The `keel` command-line tool (issue 8, in progress).

fn main() {}
