//! Overflow chains: a value too large for its leaf lives in a chain of
//! pages, each holding a slice of it and the id of the next.
//!
//! A chain is written once, before the leaf cell that refers to it, and
//! never changed: replacing or deleting the value writes the leaf first and
//! frees the old chain afterwards. So a reader that found a reference in a
//! leaf it validated may read the chain without latches, as long as it
//! validates the leaf again at the end: if the leaf still holds the
//! reference, the chain is the one it referred to.

use keel_pager::{PageId, Pager};

use crate::error::{Error, Result};
use crate::node::{self, Geometry, NodeBytes};

/// Writes `value` into a new chain; returns its first page. On failure the
/// pages written so far are freed.
pub(crate) fn write(pager: &Pager, geometry: Geometry, value: &[u8]) -> Result<PageId> {
    write_parts(pager, geometry, &[], value)
}

/// [`write`] of the value `head ‖ body`, its parts never joined whole:
/// only a page that holds bytes of both is put together.
pub(crate) fn write_parts(
    pager: &Pager,
    geometry: Geometry,
    head: &[u8],
    body: &[u8],
) -> Result<PageId> {
    let chunk = geometry.overflow_bytes();
    let len = head.len() + body.len();
    let pages = len.div_ceil(chunk);
    // Written back to front, so each page knows its successor.
    let mut next = PageId::NONE;
    let mut written = Vec::with_capacity(pages);
    let mut straddling = Vec::new();
    for index in (0..pages).rev() {
        let (start, end) = (index * chunk, ((index + 1) * chunk).min(len));
        let data: &[u8] = if start >= head.len() {
            &body[start - head.len()..end - head.len()]
        } else {
            straddling.clear();
            straddling.extend_from_slice(&head[start..end.min(head.len())]);
            straddling.extend_from_slice(&body[..end.saturating_sub(head.len())]);
            &straddling
        };
        let mut guard = match pager.allocate() {
            Ok(guard) => guard,
            Err(error) => {
                for page in written {
                    let _ = pager.free(page);
                }
                return Err(error.into());
            }
        };
        node::build_overflow(&mut guard, data, next);
        next = guard.page_id();
        written.push(next);
    }
    Ok(next)
}

/// Frees every page of the chain starting at `first`.
pub(crate) fn free(pager: &Pager, first: PageId, len: usize) -> Result<()> {
    let mut page = first;
    let mut left = len;
    while page != PageId::NONE {
        let guard = pager.exclusive(page)?;
        let (used, next) = node::overflow_header(&*guard)
            .ok()
            .flatten()
            .ok_or(Error::Corrupt {
                page,
                problem: "not an overflow page",
            })?;
        guard.free()?;
        left = left.checked_sub(used).ok_or(Error::Corrupt {
            page,
            problem: "overflow chain longer than its value",
        })?;
        page = next;
        if left == 0 && page != PageId::NONE {
            return Err(Error::Corrupt {
                page,
                problem: "overflow chain longer than its value",
            });
        }
    }
    if left != 0 {
        return Err(Error::Corrupt {
            page: first,
            problem: "overflow chain shorter than its value",
        });
    }
    Ok(())
}

/// Why reading a chain stopped.
#[derive(Debug)]
pub(crate) enum ChainFault {
    /// A page was not what the chain needs; the caller decides whether
    /// the referring leaf changed (restart) or the chain is corrupt.
    Broken(PageId, &'static str),
    /// The pager failed.
    Pager(keel_pager::Error),
}

/// Appends the chain's `len` bytes to `out`, reading each page
/// optimistically (every page validated on its own).
pub(crate) fn read(
    pager: &Pager,
    first: PageId,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), ChainFault> {
    out.reserve(len);
    let start = out.len();
    let mut page = first;
    while out.len() - start < len {
        if page == PageId::NONE {
            return Err(ChainFault::Broken(
                first,
                "overflow chain shorter than its value",
            ));
        }
        let left = len - (out.len() - start);
        let mut chunk = Vec::new();
        let step = pager
            .read(page, |view| {
                chunk.clear();
                let Some((used, next)) = node::overflow_header(view)? else {
                    return Ok(None);
                };
                if used == 0 || used > left {
                    return Ok(None);
                }
                view.append_to(node::OVERFLOW_HEADER_BYTES, used, &mut chunk)?;
                Ok(Some(next))
            })
            .map_err(ChainFault::Pager)?;
        let Some(next) = step else {
            return Err(ChainFault::Broken(
                page,
                "not a page of this overflow chain",
            ));
        };
        out.extend_from_slice(&chunk);
        page = next;
    }
    if page != PageId::NONE {
        return Err(ChainFault::Broken(
            page,
            "overflow chain longer than its value",
        ));
    }
    Ok(())
}

/// Compares the chain's `len` bytes with `other`, as byte strings, reading
/// a page at a time and stopping at the first difference: the order of
/// the chain's bytes against `other`. Each page is read optimistically
/// (validated on its own); as with [`read`], the caller validates the
/// page that refers to the chain afterwards.
pub(crate) fn compare(
    pager: &Pager,
    first: PageId,
    len: usize,
    other: &[u8],
) -> Result<std::cmp::Ordering, ChainFault> {
    use std::cmp::Ordering;
    let mut page = first;
    let mut done = 0;
    while done < len {
        if page == PageId::NONE {
            return Err(ChainFault::Broken(
                first,
                "overflow chain shorter than its key",
            ));
        }
        let left = len - done;
        let theirs = &other[done.min(other.len())..];
        let step = pager
            .read(page, |view| {
                let Some((used, next)) = node::overflow_header(view)? else {
                    return Ok(None);
                };
                if used == 0 || used > left {
                    return Ok(None);
                }
                let common = used.min(theirs.len());
                let ordering =
                    view.compare(node::OVERFLOW_HEADER_BYTES, common, &theirs[..common])?;
                Ok(Some((used, next, ordering)))
            })
            .map_err(ChainFault::Pager)?;
        let Some((used, next, ordering)) = step else {
            return Err(ChainFault::Broken(
                page,
                "not a page of this overflow chain",
            ));
        };
        if ordering != Ordering::Equal {
            return Ok(ordering);
        }
        if used > theirs.len() {
            // `other` ends inside this page: the chain goes on past it.
            return Ok(Ordering::Greater);
        }
        done += used;
        page = next;
    }
    if page != PageId::NONE {
        return Err(ChainFault::Broken(
            page,
            "overflow chain longer than its key",
        ));
    }
    Ok(len.cmp(&other.len()))
}
