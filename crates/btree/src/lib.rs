//! keel-btree: the paged B+tree (issue 5, in progress).
