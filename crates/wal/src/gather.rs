//! Where a record is encoded: a byte vector, or a [`Gather`] that keeps
//! large values as references to the caller's shared bytes, so that a
//! record holding a value of hundreds of megabytes is framed and written
//! from the caller's buffer instead of being copied into the log's.

use bytes::Bytes;

/// Values at least this long are referenced by a [`Gather`], not copied.
pub const SHARED_VALUE_BYTES_MIN: usize = 64 << 10;

/// What a record's encoding is written to.
pub trait Sink {
    /// Appends `bytes`, copied.
    fn put(&mut self, bytes: &[u8]);
    /// Appends `bytes`, referenced where the sink can keep a reference.
    fn put_shared(&mut self, bytes: &Bytes) {
        self.put(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// An encoding as a sequence of shared pieces: the bytes copied in, cut
/// wherever a large value is referenced.
#[derive(Debug, Default)]
pub struct Gather {
    pieces: Vec<Bytes>,
    copied: Vec<u8>,
}

impl Gather {
    /// The vector copied bytes go to (for encoders that only copy).
    pub fn copied(&mut self) -> &mut Vec<u8> {
        &mut self.copied
    }

    /// The pieces, in order.
    pub fn finish(mut self) -> Vec<Bytes> {
        self.end_copied();
        self.pieces
    }

    fn end_copied(&mut self) {
        if !self.copied.is_empty() {
            self.pieces
                .push(Bytes::from(std::mem::take(&mut self.copied)));
        }
    }
}

impl Sink for Gather {
    fn put(&mut self, bytes: &[u8]) {
        self.copied.extend_from_slice(bytes);
    }

    fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < SHARED_VALUE_BYTES_MIN {
            return self.put(bytes);
        }
        self.end_copied();
        self.pieces.push(bytes.clone());
    }
}

/// The pieces of `pieces` (a payload of `len` bytes) in consecutive
/// windows of at most `window` bytes: each window's pieces are slices
/// of the originals (no copy).
pub fn windows(pieces: &[Bytes], len: usize, window: usize) -> Vec<Vec<Bytes>> {
    let mut windows = Vec::with_capacity(len.div_ceil(window.max(1)));
    let mut current = Vec::new();
    let mut room = window;
    for piece in pieces {
        let mut piece = piece.clone();
        while !piece.is_empty() {
            let take = piece.len().min(room);
            current.push(piece.split_to(take));
            room -= take;
            if room == 0 {
                windows.push(std::mem::take(&mut current));
                room = window;
            }
        }
    }
    if !current.is_empty() {
        windows.push(current);
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gather_keeps_large_values_and_copies_the_rest_in_order() {
        let large = Bytes::from(vec![7u8; SHARED_VALUE_BYTES_MIN]);
        let small = Bytes::from_static(b"small");
        let mut gather = Gather::default();
        gather.put(b"head");
        gather.put_shared(&small);
        gather.put_shared(&large);
        gather.put(b"tail");
        let pieces = gather.finish();
        assert_eq!(pieces.len(), 3);
        assert_eq!(&pieces[0][..], b"headsmall");
        assert_eq!(pieces[1].as_ptr(), large.as_ptr(), "referenced, not copied");
        assert_eq!(&pieces[2][..], b"tail");
        let mut flat = Vec::new();
        flat.put(b"head");
        flat.put_shared(&small);
        flat.put_shared(&large);
        flat.put(b"tail");
        assert_eq!(flat, pieces.concat());
    }

    #[test]
    fn windows_cut_the_pieces_at_every_boundary() {
        let pieces: Vec<Bytes> = [3usize, 10, 1, 7]
            .iter()
            .enumerate()
            .map(|(index, &len)| Bytes::from(vec![index as u8; len]))
            .collect();
        let flat = pieces.concat();
        for window in 1..=22 {
            let windows = windows(&pieces, flat.len(), window);
            assert_eq!(
                windows.len(),
                flat.len().div_ceil(window),
                "window {window}"
            );
            for (index, pieces) in windows.iter().enumerate() {
                let start = index * window;
                let end = (start + window).min(flat.len());
                assert_eq!(
                    pieces.concat(),
                    flat[start..end],
                    "window {window} #{index}"
                );
            }
        }
    }
}
