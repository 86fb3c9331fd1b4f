//! keel-mvcc: serializable MVCC transactions (issue 6, in progress).
