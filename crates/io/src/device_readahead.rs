//! The read-ahead size the OS uses for a file's device: how much the kernel
//! reads around a page fault of a memory-mapped file there (Linux: the
//! device's `read_ahead_kb`, which its administrator may tune). A reader
//! that emulates a mapped file's read-around with advice asks for windows
//! of this size (keel-pager's miss read-ahead).

use std::path::Path;

/// The read-ahead size, in bytes, of the device holding `file`; `None`
/// where the OS does not tell (not Linux, no block device under the file
/// system, no `/sys`).
pub(crate) fn of(file: &std::fs::File) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let device = file.metadata().ok()?.dev();
        let (major, minor) = (nix::sys::stat::major(device), nix::sys::stat::minor(device));
        in_sysfs(Path::new("/sys"), major, minor)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// The read-ahead size of device `major:minor` as the sysfs rooted at `sys`
/// gives it: the device's own queue (a whole disk), its parent's (a
/// partition), or its backing device's (a file system without one block
/// device of its own).
pub(crate) fn in_sysfs(sys: &Path, major: u64, minor: u64) -> Option<u64> {
    let id = format!("{major}:{minor}");
    let device = sys.join("dev/block").join(&id);
    [
        device.join("queue/read_ahead_kb"),
        device.join("../queue/read_ahead_kb"),
        sys.join("class/bdi").join(&id).join("read_ahead_kb"),
    ]
    .iter()
    .find_map(|path| {
        let kib: u64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        kib.checked_mul(1024).filter(|&bytes| bytes > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_disk_a_partition_and_a_backing_device_are_each_found() {
        let sys = tempfile::tempdir().unwrap();
        let sys = sys.path();
        // A disk 254:0 with a partition 254:1 (sysfs links the partition's
        // directory inside the disk's; a real directory serves here).
        write(&sys.join("dev/block/254:0/queue/read_ahead_kb"), "8192\n");
        std::fs::create_dir_all(sys.join("dev/block/254:0/part1")).unwrap();
        std::os::unix::fs::symlink(
            sys.join("dev/block/254:0/part1"),
            sys.join("dev/block/254:1"),
        )
        .unwrap();
        write(&sys.join("class/bdi/0:42/read_ahead_kb"), "128\n");
        assert_eq!(in_sysfs(sys, 254, 0), Some(8 << 20));
        assert_eq!(in_sysfs(sys, 254, 1), Some(8 << 20));
        assert_eq!(in_sysfs(sys, 0, 42), Some(128 << 10));
    }

    #[test]
    fn no_entry_zero_or_garbage_is_none() {
        let sys = tempfile::tempdir().unwrap();
        let sys = sys.path();
        write(&sys.join("dev/block/8:0/queue/read_ahead_kb"), "0\n");
        write(&sys.join("dev/block/8:16/queue/read_ahead_kb"), "lots\n");
        assert_eq!(in_sysfs(sys, 8, 0), None);
        assert_eq!(in_sysfs(sys, 8, 16), None);
        assert_eq!(in_sysfs(sys, 9, 9), None);
    }

    #[test]
    fn a_real_file_gets_a_size_or_none_never_a_panic() {
        let file = tempfile::tempfile().unwrap();
        if let Some(bytes) = of(&file) {
            assert!(bytes >= 1024, "{bytes}");
        }
    }
}
