//! The page file on disk at open: creating it whole, and finding its
//! newest valid meta slot.

use super::*;

/// Creates an initialized page file atomically: written under a temporary
/// name, synced, renamed into place, directory synced. A crash leaves
/// either no file or a complete one.
pub(super) fn create_file(vfs: &dyn Vfs, path: &Path, page_size: u32) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    keel_io::create_dir_all_durable(vfs, &parent)?;
    let mut temporary = path.as_os_str().to_os_string();
    temporary.push(".creating");
    let temporary = PathBuf::from(temporary);
    if vfs.exists(&temporary)? {
        vfs.remove(&temporary)?;
    }
    let meta = Meta {
        page_size,
        checkpoint_id: 0,
        page_id_limit: 1,
        page_count: 0,
        map_root: NodeRef::ABSENT,
        map_height: 0,
        payload: Vec::new(),
        open_blocks: Vec::new(),
    };
    let file = vfs.open(&temporary, OpenMode::CreateNew)?;
    file.write_all_at(&meta.encode(), 0)?;
    file.set_len(FIRST_DATA_BLOCK * u64::from(page_size))?;
    file.sync_data()?;
    drop(file);
    vfs.rename(&temporary, path)?;
    vfs.sync_dir(&parent)?;
    Ok(())
}

/// The bytes an open reads first, in one call: both meta slots at the
/// default page size (a larger page size reads its second slot on its
/// own). One read instead of a header and then a slot, twice: each is a
/// system call, and the first waits for the device. A caller that asks
/// the OS to read the file's head ahead of an open asks for this much.
pub const FIRST_READ_BYTES: u64 = 2 * PAGE_SIZE_DEFAULT as u64;

/// The start of the file, as far as [`FIRST_READ_BYTES`] reaches.
fn read_start(file: &dyn keel_io::File, size: u64) -> Result<Vec<u8>> {
    let mut start = vec![0u8; FIRST_READ_BYTES.min(size) as usize];
    file.read_exact_at(&mut start, 0)?;
    Ok(start)
}

/// `len` bytes at `offset`: from `start` (the file's first bytes) when it
/// holds them, else read.
fn bytes_at<'a>(
    file: &dyn keel_io::File,
    start: &'a [u8],
    offset: u64,
    len: usize,
    read: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    let end = offset.saturating_add(len as u64);
    if end <= start.len() as u64 {
        return Ok(&start[offset as usize..end as usize]);
    }
    *read = vec![0u8; len];
    file.read_exact_at(read, offset)?;
    Ok(read)
}

/// Reads one meta slot at `offset` (from `start` if it holds it).
fn read_slot(
    file: &dyn keel_io::File,
    start: &[u8],
    size: u64,
    offset: u64,
) -> Result<Result<Meta, MetaProblem>> {
    if offset + META_HEADER_BYTES as u64 > size {
        return Ok(Err(MetaProblem::Truncated));
    }
    let mut read = Vec::new();
    let header = bytes_at(file, start, offset, META_HEADER_BYTES, &mut read)?;
    let decoded = match meta::decode_header(header, offset) {
        Ok(decoded) => decoded,
        Err(problem) => return Ok(Err(problem)),
    };
    let len = META_HEADER_BYTES as u64 + u64::from(decoded.payload_len);
    if offset + len > size {
        return Ok(Err(MetaProblem::Truncated));
    }
    // With the open hint after the payload, where the file holds it.
    let len =
        (meta::slot_read_len(decoded.payload_len, decoded.page_size) as u64).min(size - offset);
    let mut read = Vec::new();
    let slot = bytes_at(file, start, offset, len as usize, &mut read)?;
    Ok(meta::decode(slot, offset))
}

/// The newest meta slot whose checksum holds, and what the other slot
/// holds (its checkpoint id) or why it was rejected.
pub(super) fn read_newest_meta(
    file: &dyn keel_io::File,
    path: &Path,
    size: u64,
) -> Result<(Meta, Result<u64, MetaProblem>)> {
    let start = read_start(file, size)?;
    let slot0 = read_slot(file, &start, size, 0)?;
    let slot1 = match &slot0 {
        Ok(meta) => read_slot(file, &start, size, u64::from(meta.page_size))?,
        Err(_) => {
            // Slot 0 cannot say where slot 1 is: try every page size.
            let mut first_problem = None;
            let mut found = None;
            let mut page_size = PAGE_SIZE_MIN;
            while page_size <= PAGE_SIZE_MAX {
                match read_slot(file, &start, size, u64::from(page_size))? {
                    Ok(meta) => {
                        found = Some(meta);
                        break;
                    }
                    Err(MetaProblem::BadMagic | MetaProblem::Truncated) => {}
                    Err(problem) => {
                        first_problem.get_or_insert(problem);
                    }
                }
                page_size *= 2;
            }
            match found {
                Some(meta) => Ok(meta),
                None => Err(first_problem.unwrap_or(if size > u64::from(PAGE_SIZE_MIN) {
                    MetaProblem::BadMagic
                } else {
                    MetaProblem::Truncated
                })),
            }
        }
    };
    match (slot0, slot1) {
        (Ok(a), Ok(b)) => Ok(if b.checkpoint_id > a.checkpoint_id {
            let older = a.checkpoint_id;
            (b, Ok(older))
        } else {
            let older = b.checkpoint_id;
            (a, Ok(older))
        }),
        (Ok(meta), Err(problem)) | (Err(problem), Ok(meta)) => Ok((meta, Err(problem))),
        (Err(slot0), Err(slot1)) => Err(Error::NoValidMeta {
            path: path.to_path_buf(),
            slot0,
            slot1,
        }),
    }
}
