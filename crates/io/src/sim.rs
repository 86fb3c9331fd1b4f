//! `SimVfs`: an in-memory, deterministic disk that knows what is durable.
//!
//! The fault model (also in docs/ARCHITECTURE.md, which later crates test
//! recovery against):
//!
//! * File contents written but not covered by a later `sync_data` of the
//!   same file are *unsynced*; `sync_data` makes every earlier write and
//!   length change of that file durable (data and size, as `fdatasync`).
//! * Directory entries (create, remove, rename, mkdir) are *pending* until a
//!   `sync_dir` of the directory that holds them (for a rename, either
//!   side); syncing a file does not make its name durable. A rename is
//!   atomic: after a crash the entry is under the old name or the new one.
//!   A directory whose own entry was lost takes its contents with it.
//! * [`SimVfs::crash`] applies one [`CrashMode`]: keep everything (a killed
//!   process), keep only what is durable (power loss), keep a random subset
//!   of the unsynced writes and pending entries, or additionally tear each
//!   kept write at 512-byte sector granularity. Sectors are atomic.
//! * Failures: the N-th mutating operation can fail (once or from then on)
//!   without effect, and a crash point makes every mutating operation from
//!   the N-th on fail with [`Error::PowerLost`], as if the machine died
//!   there. Operations are counted from the creation of the `SimVfs`.
//!
//! Randomness comes from one seeded generator, so a test that fails prints
//! a seed that reproduces it exactly.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Op, Result};
use crate::vfs::{File, FileHandle, OpenMode, Vfs};

/// The atomic unit of a simulated write: a torn write keeps or loses whole
/// sectors.
pub const SECTOR_BYTES: u64 = 512;

/// What survives a simulated crash, see [`SimVfs::crash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashMode {
    /// The process died but the machine did not: everything written,
    /// synced or not, survives (the page cache is intact).
    ProcessKill,
    /// Power loss: only synced data and synced directory entries survive.
    LoseUnsynced,
    /// Power loss where the disk had written back some of the cache: each
    /// unsynced write and each pending directory entry independently
    /// survives or not.
    KeepRandomSubset,
    /// Like [`CrashMode::KeepRandomSubset`], but each unsynced write is torn:
    /// every 512-byte sector of it independently survives or not.
    TornSectors,
}

impl CrashMode {
    /// Every crash mode, for tests that try them all.
    pub const ALL: [CrashMode; 4] = [
        CrashMode::ProcessKill,
        CrashMode::LoseUnsynced,
        CrashMode::KeepRandomSubset,
        CrashMode::TornSectors,
    ];
}

/// Whether an injected fault fails one operation or every one from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Only the chosen operation fails.
    Once,
    /// The chosen operation and every later mutating operation fail.
    Persistent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
}

#[derive(Debug, Clone)]
enum NamespaceOp {
    Insert {
        path: PathBuf,
        node: Node,
    },
    Remove {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        node: Node,
    },
}

impl NamespaceOp {
    fn touches(&self, dir: &Path) -> bool {
        match self {
            NamespaceOp::Insert { path, .. } | NamespaceOp::Remove { path } => {
                path.parent() == Some(dir)
            }
            NamespaceOp::Rename { from, to, .. } => {
                from.parent() == Some(dir) || to.parent() == Some(dir)
            }
        }
    }

    fn apply(&self, map: &mut BTreeMap<PathBuf, Node>) {
        match self {
            NamespaceOp::Insert { path, node } => {
                map.insert(path.clone(), *node);
            }
            NamespaceOp::Remove { path } => {
                map.remove(path);
            }
            NamespaceOp::Rename { from, to, node } => {
                map.remove(from);
                map.insert(to.clone(), *node);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

impl DataOp {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            DataOp::Write { offset, data } => write_into(bytes, *offset, data),
            DataOp::SetLen(size) => bytes.resize(to_index(*size), 0),
        }
    }
}

fn to_index(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A write of `data` at `offset`; one of no bytes changes nothing, past
/// the end too (a real file's `pwrite` of 0 bytes does not extend it).
fn write_into(bytes: &mut Vec<u8>, offset: u64, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let start = to_index(offset);
    let end = start + data.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[start..end].copy_from_slice(data);
}

#[derive(Debug, Default)]
struct Inode {
    /// What a reader sees now.
    data: Vec<u8>,
    /// What survives a power loss.
    durable: Vec<u8>,
    /// Writes and length changes since the last sync, in order.
    unsynced: Vec<DataOp>,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    at: u64,
    mode: FaultMode,
}

struct State {
    rng: SmallRng,
    generation: u64,
    next_inode: u64,
    next_handle: u64,
    inodes: HashMap<u64, Inode>,
    live: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
    pending: Vec<NamespaceOp>,
    operations: u64,
    fault: Option<Fault>,
    crash_point: Option<u64>,
    locks: HashMap<u64, u64>,
}

impl State {
    /// Counts a mutating operation and decides whether it may happen.
    fn begin_mutation(&mut self, op: Op, path: &Path) -> Result<()> {
        let index = self.operations;
        self.operations += 1;
        if self.crash_point.is_some_and(|point| index >= point) {
            return Err(Error::PowerLost {
                op,
                path: path.to_path_buf(),
            });
        }
        if let Some(fault) = self.fault {
            let hit = match fault.mode {
                FaultMode::Once => index == fault.at,
                FaultMode::Persistent => index >= fault.at,
            };
            if hit {
                return Err(Error::Injected {
                    op,
                    path: path.to_path_buf(),
                    operation: index,
                });
            }
        }
        Ok(())
    }

    fn parent_exists(&self, path: &Path) -> bool {
        match path.parent() {
            None => true,
            Some(parent) if parent.as_os_str().is_empty() || parent == Path::new("/") => true,
            Some(parent) => self.live.get(parent) == Some(&Node::Dir),
        }
    }

    fn not_found(op: Op, path: &Path) -> Error {
        Error::io(op, path, std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    fn namespace(&mut self, op: NamespaceOp) {
        op.apply(&mut self.live);
        self.pending.push(op);
    }

    fn inode(&mut self, file: &SimFile, op: Op) -> Result<&mut Inode> {
        if file.generation != self.generation {
            return Err(Error::StaleHandle {
                op,
                path: file.path.clone(),
            });
        }
        self.inodes
            .get_mut(&file.inode)
            .ok_or_else(|| Error::StaleHandle {
                op,
                path: file.path.clone(),
            })
    }

    fn crash(&mut self, mode: CrashMode) {
        let pending = std::mem::take(&mut self.pending);
        match mode {
            CrashMode::ProcessKill => self.durable = self.live.clone(),
            CrashMode::LoseUnsynced => {}
            CrashMode::KeepRandomSubset | CrashMode::TornSectors => {
                for op in pending {
                    if self.rng.random_bool(0.5) {
                        op.apply(&mut self.durable);
                    }
                }
            }
        }
        prune_orphans(&mut self.durable);
        for inode in self.inodes.values_mut() {
            let unsynced = std::mem::take(&mut inode.unsynced);
            for op in &unsynced {
                match (mode, op) {
                    (CrashMode::ProcessKill, _) => op.apply(&mut inode.durable),
                    (CrashMode::LoseUnsynced, _) => {}
                    (CrashMode::TornSectors, DataOp::Write { offset, data }) => {
                        tear_write(&mut self.rng, &mut inode.durable, *offset, data);
                    }
                    (CrashMode::KeepRandomSubset | CrashMode::TornSectors, _) => {
                        if self.rng.random_bool(0.5) {
                            op.apply(&mut inode.durable);
                        }
                    }
                }
            }
            inode.data = inode.durable.clone();
        }
        let referenced: std::collections::HashSet<u64> = self
            .durable
            .values()
            .filter_map(|node| match node {
                Node::File(inode) => Some(*inode),
                Node::Dir => None,
            })
            .collect();
        self.inodes.retain(|inode, _| referenced.contains(inode));
        self.live = self.durable.clone();
        self.generation += 1;
        self.locks.clear();
        self.fault = None;
        self.crash_point = None;
    }
}

/// Keeps each sector of a write independently, with probability one half.
fn tear_write(rng: &mut SmallRng, bytes: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let end = offset + data.len() as u64;
    let mut start = offset;
    while start < end {
        let sector_end = ((start / SECTOR_BYTES) + 1) * SECTOR_BYTES;
        let piece_end = sector_end.min(end);
        if rng.random_bool(0.5) {
            let from = to_index(start - offset);
            let to = to_index(piece_end - offset);
            write_into(bytes, start, &data[from..to]);
        }
        start = piece_end;
    }
}

/// Drops entries whose parent directory did not survive.
fn prune_orphans(map: &mut BTreeMap<PathBuf, Node>) {
    loop {
        let orphans: Vec<PathBuf> = map
            .keys()
            .filter(|path| match path.parent() {
                None => false,
                Some(parent) if parent.as_os_str().is_empty() || parent == Path::new("/") => false,
                Some(parent) => map.get(parent) != Some(&Node::Dir),
            })
            .cloned()
            .collect();
        if orphans.is_empty() {
            return;
        }
        for orphan in orphans {
            map.remove(&orphan);
        }
    }
}

/// A simulated disk, deterministic for a given seed. Clones share the disk.
///
/// ```
/// use keel_io::{CrashMode, OpenMode, SimVfs, Vfs};
/// use std::path::Path;
///
/// let vfs = SimVfs::new(7);
/// let file = vfs.open(Path::new("/log"), OpenMode::CreateNew)?;
/// vfs.sync_dir(Path::new("/"))?;
/// file.write_all_at(b"synced", 0)?;
/// file.sync_data()?;
/// file.write_all_at(b" and not", 6)?;
/// vfs.crash(CrashMode::LoseUnsynced);
/// let file = vfs.open(Path::new("/log"), OpenMode::Existing)?;
/// assert_eq!(keel_io::read_to_end(file.as_ref())?, b"synced");
/// # Ok::<(), keel_io::Error>(())
/// ```
#[derive(Clone)]
pub struct SimVfs {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("SimVfs")
            .field("generation", &state.generation)
            .field("operations", &state.operations)
            .field("entries", &state.live.len())
            .field("pending_entries", &state.pending.len())
            .finish()
    }
}

impl SimVfs {
    /// An empty disk whose random choices (crash subsets, tears) follow
    /// `seed`.
    pub fn new(seed: u64) -> Self {
        SimVfs {
            state: Arc::new(Mutex::new(State {
                rng: SmallRng::seed_from_u64(seed),
                generation: 0,
                next_inode: 0,
                next_handle: 0,
                inodes: HashMap::new(),
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
                pending: Vec::new(),
                operations: 0,
                fault: None,
                crash_point: None,
                locks: HashMap::new(),
            })),
        }
    }

    /// Simulates a crash and the restart after it: what survives follows
    /// `mode`; every handle opened before becomes stale; locks, injected
    /// faults and the crash point are cleared; power is back.
    pub fn crash(&self, mode: CrashMode) {
        self.state.lock().crash(mode);
    }

    /// How many mutating operations (writes, syncs, length changes, entry
    /// changes) have been attempted so far, including failed ones.
    pub fn operations(&self) -> u64 {
        self.state.lock().operations
    }

    /// From mutating operation number `operation` on (counted as
    /// [`SimVfs::operations`] counts), every mutating operation fails with
    /// [`Error::PowerLost`] and has no effect, until [`SimVfs::crash`].
    /// `None` removes the crash point.
    pub fn set_crash_point(&self, operation: Option<u64>) {
        self.state.lock().crash_point = operation;
    }

    /// Whether an operation has hit the crash point since the last crash.
    pub fn power_lost(&self) -> bool {
        let state = self.state.lock();
        state
            .crash_point
            .is_some_and(|point| state.operations > point)
    }

    /// Makes mutating operation number `operation` fail with
    /// [`Error::Injected`] and no effect (and, with
    /// [`FaultMode::Persistent`], every one after it). Replaces any earlier
    /// fault.
    pub fn inject_fault(&self, operation: u64, mode: FaultMode) {
        self.state.lock().fault = Some(Fault {
            at: operation,
            mode,
        });
    }

    /// Removes an injected fault.
    pub fn clear_fault(&self) {
        self.state.lock().fault = None;
    }

    /// Flips bits (`byte ^= mask`) at `offset` of a file, in both its current
    /// and its durable contents: media corruption, for checksum tests.
    /// Returns false if there is no such file or byte.
    pub fn corrupt(&self, path: &Path, offset: u64, mask: u8) -> bool {
        let mut state = self.state.lock();
        let Some(Node::File(inode)) = state.live.get(path).copied() else {
            return false;
        };
        let Some(inode) = state.inodes.get_mut(&inode) else {
            return false;
        };
        let index = to_index(offset);
        let mut flipped = false;
        for bytes in [&mut inode.data, &mut inode.durable] {
            if let Some(byte) = bytes.get_mut(index) {
                *byte ^= mask;
                flipped = true;
            }
        }
        flipped
    }

    fn handle(&self, state: &mut State, inode: u64, path: &Path) -> FileHandle {
        let handle = state.next_handle;
        state.next_handle += 1;
        Arc::new(SimFile {
            vfs: self.clone(),
            inode,
            generation: state.generation,
            handle,
            path: path.to_path_buf(),
        })
    }
}

impl Vfs for SimVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle> {
        let mut state = self.state.lock();
        match (state.live.get(path).copied(), mode) {
            (Some(Node::File(inode)), OpenMode::Existing | OpenMode::CreateOrOpen) => {
                Ok(self.handle(&mut state, inode, path))
            }
            (Some(Node::File(_)), OpenMode::CreateNew) => Err(Error::io(
                Op::Open,
                path,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            )),
            (Some(Node::Dir), _) => Err(Error::io(
                Op::Open,
                path,
                std::io::Error::from(std::io::ErrorKind::IsADirectory),
            )),
            (None, OpenMode::Existing) => Err(State::not_found(Op::Open, path)),
            (None, OpenMode::CreateNew | OpenMode::CreateOrOpen) => {
                if !state.parent_exists(path) {
                    return Err(State::not_found(Op::Open, path));
                }
                state.begin_mutation(Op::Open, path)?;
                let inode = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(inode, Inode::default());
                state.namespace(NamespaceOp::Insert {
                    path: path.to_path_buf(),
                    node: Node::File(inode),
                });
                Ok(self.handle(&mut state, inode, path))
            }
        }
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut state = self.state.lock();
        match state.live.get(path) {
            Some(Node::File(_)) => {}
            Some(Node::Dir) => {
                return Err(Error::io(
                    Op::Remove,
                    path,
                    std::io::Error::from(std::io::ErrorKind::IsADirectory),
                ));
            }
            None => return Err(State::not_found(Op::Remove, path)),
        }
        state.begin_mutation(Op::Remove, path)?;
        state.namespace(NamespaceOp::Remove {
            path: path.to_path_buf(),
        });
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut state = self.state.lock();
        let node = match state.live.get(from).copied() {
            Some(node @ Node::File(_)) => node,
            Some(Node::Dir) => {
                return Err(Error::io(
                    Op::Rename,
                    from,
                    std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        "SimVfs renames files, not directories",
                    ),
                ));
            }
            None => return Err(State::not_found(Op::Rename, from)),
        };
        if state.live.get(to) == Some(&Node::Dir) {
            return Err(Error::io(
                Op::Rename,
                to,
                std::io::Error::from(std::io::ErrorKind::IsADirectory),
            ));
        }
        if !state.parent_exists(to) {
            return Err(State::not_found(Op::Rename, to));
        }
        state.begin_mutation(Op::Rename, from)?;
        state.namespace(NamespaceOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            node,
        });
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let state = self.state.lock();
        let is_root = dir.as_os_str().is_empty() || dir == Path::new("/");
        if !is_root && state.live.get(dir) != Some(&Node::Dir) {
            return Err(State::not_found(Op::List, dir));
        }
        Ok(state
            .live
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .cloned()
            .collect())
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut state = self.state.lock();
        let mut missing = Vec::new();
        for ancestor in dir.ancestors() {
            if ancestor.as_os_str().is_empty() || ancestor == Path::new("/") {
                break;
            }
            match state.live.get(ancestor) {
                Some(Node::Dir) => break,
                Some(Node::File(_)) => {
                    return Err(Error::io(
                        Op::CreateDir,
                        ancestor,
                        std::io::Error::from(std::io::ErrorKind::NotADirectory),
                    ));
                }
                None => missing.push(ancestor.to_path_buf()),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        state.begin_mutation(Op::CreateDir, dir)?;
        for path in missing.into_iter().rev() {
            state.namespace(NamespaceOp::Insert {
                path,
                node: Node::Dir,
            });
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut state = self.state.lock();
        let is_root = dir.as_os_str().is_empty() || dir == Path::new("/");
        if !is_root && state.live.get(dir) != Some(&Node::Dir) {
            return Err(State::not_found(Op::SyncDir, dir));
        }
        state.begin_mutation(Op::SyncDir, dir)?;
        let pending = std::mem::take(&mut state.pending);
        for op in pending {
            if op.touches(dir) {
                op.apply(&mut state.durable);
            } else {
                state.pending.push(op);
            }
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let state = self.state.lock();
        Ok(path.as_os_str().is_empty() || path == Path::new("/") || state.live.contains_key(path))
    }
}

/// A file of a [`SimVfs`].
pub struct SimFile {
    vfs: SimVfs,
    inode: u64,
    generation: u64,
    handle: u64,
    path: PathBuf,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("inode", &self.inode)
            .field("generation", &self.generation)
            .finish()
    }
}

impl SimFile {
    fn mutate(&self, op: Op, change: DataOp) -> Result<()> {
        let mut state = self.vfs.state.lock();
        state.inode(self, op)?;
        state.begin_mutation(op, &self.path)?;
        let inode = state.inode(self, op)?;
        change.apply(&mut inode.data);
        inode.unsynced.push(change);
        Ok(())
    }
}

impl File for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut state = self.vfs.state.lock();
        let inode = state.inode(self, Op::Read)?;
        let start = to_index(offset);
        if start >= inode.data.len() {
            return Ok(0);
        }
        let count = buf.len().min(inode.data.len() - start);
        buf[..count].copy_from_slice(&inode.data[start..start + count]);
        Ok(count)
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> Result<()> {
        self.mutate(
            Op::Write,
            DataOp::Write {
                offset,
                data: data.to_vec(),
            },
        )
    }

    fn sync_data(&self) -> Result<()> {
        let mut state = self.vfs.state.lock();
        state.inode(self, Op::SyncData)?;
        state.begin_mutation(Op::SyncData, &self.path)?;
        let inode = state.inode(self, Op::SyncData)?;
        for op in std::mem::take(&mut inode.unsynced) {
            op.apply(&mut inode.durable);
        }
        debug_assert_eq!(inode.durable, inode.data);
        Ok(())
    }

    fn size(&self) -> Result<u64> {
        let mut state = self.vfs.state.lock();
        Ok(state.inode(self, Op::Size)?.data.len() as u64)
    }

    fn set_len(&self, size: u64) -> Result<()> {
        self.mutate(Op::SetLen, DataOp::SetLen(size))
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        let size = self.size()?;
        let end = offset + len;
        if end <= size {
            return Ok(());
        }
        self.mutate(Op::Allocate, DataOp::SetLen(end))
    }

    fn try_lock(&self) -> Result<()> {
        let mut state = self.vfs.state.lock();
        state.inode(self, Op::Lock)?;
        match state.locks.get(&self.inode) {
            Some(&holder) if holder != self.handle => Err(Error::Locked {
                path: self.path.clone(),
            }),
            _ => {
                state.locks.insert(self.inode, self.handle);
                Ok(())
            }
        }
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut state = self.vfs.state.lock();
        if state.generation == self.generation && state.locks.get(&self.inode) == Some(&self.handle)
        {
            state.locks.remove(&self.inode);
        }
    }
}
