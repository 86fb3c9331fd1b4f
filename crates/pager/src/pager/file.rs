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

/// Reads one meta slot at `offset`.
fn read_slot(
    file: &dyn keel_io::File,
    size: u64,
    offset: u64,
) -> Result<Result<Meta, MetaProblem>> {
    if offset + META_HEADER_BYTES as u64 > size {
        return Ok(Err(MetaProblem::Truncated));
    }
    let mut header = [0u8; META_HEADER_BYTES];
    file.read_exact_at(&mut header, offset)?;
    let decoded = match meta::decode_header(&header, offset) {
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
    let mut slot = vec![0u8; len as usize];
    file.read_exact_at(&mut slot, offset)?;
    Ok(meta::decode(&slot, offset))
}

/// The newest meta slot whose checksum holds, and what the other slot
/// holds (its checkpoint id) or why it was rejected.
pub(super) fn read_newest_meta(
    file: &dyn keel_io::File,
    path: &Path,
    size: u64,
) -> Result<(Meta, Result<u64, MetaProblem>)> {
    let slot0 = read_slot(file, size, 0)?;
    let slot1 = match &slot0 {
        Ok(meta) => read_slot(file, size, u64::from(meta.page_size))?,
        Err(_) => {
            // Slot 0 cannot say where slot 1 is: try every page size.
            let mut first_problem = None;
            let mut found = None;
            let mut page_size = PAGE_SIZE_MIN;
            while page_size <= PAGE_SIZE_MAX {
                match read_slot(file, size, u64::from(page_size))? {
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
