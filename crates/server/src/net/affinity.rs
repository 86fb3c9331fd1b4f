//! Pinning the server's threads to CPUs: Redis's `server-cpulist` syntax
//! and `sched_setaffinity`.

use crate::error::{Error, Result};

/// Highest CPU number a CPU list may name (the kernel's `CPU_SETSIZE`).
pub const CPU_NUMBER_MAX: usize = 1023;

/// Parses a CPU list as Redis's `server-cpulist` takes it: comma-separated
/// items, each a CPU (`3`), a range (`0-7`) or a range with a step
/// (`0-7:2`); the CPUs in ascending order, each once.
///
/// ```
/// use keel_server::parse_cpu_list;
/// assert_eq!(parse_cpu_list("0-6:2,1").unwrap(), vec![0, 1, 2, 4, 6]);
/// assert!(parse_cpu_list("3-1").is_err());
/// ```
///
/// # Errors
/// A message naming the item that is not a CPU, a range or a step, or a
/// CPU above [`CPU_NUMBER_MAX`].
pub fn parse_cpu_list(text: &str) -> std::result::Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        let number = |part: &str| {
            part.parse::<usize>()
                .ok()
                .filter(|&cpu| cpu <= CPU_NUMBER_MAX)
                .ok_or_else(|| {
                    format!("{item:?} in the CPU list {text:?} is not a CPU number from 0 to {CPU_NUMBER_MAX}")
                })
        };
        let (range, step) = match item.split_once(':') {
            Some((range, step)) => (range, number(step)?),
            None => (item, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => {
                let cpu = number(range)?;
                (cpu, cpu)
            }
        };
        if step == 0 || first > last {
            return Err(format!(
                "{item:?} in the CPU list {text:?} is not a range from low to high with a step of at least 1"
            ));
        }
        cpus.extend((first..=last).step_by(step));
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Restricts the calling thread to `cpus`.
///
/// # Errors
/// [`Error::Affinity`] when the kernel refuses (no listed CPU exists or is
/// allowed to this process), or off Linux.
pub fn pin_current_thread(cpus: &[usize]) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::sched::{CpuSet, sched_setaffinity};
        use nix::unistd::Pid;
        let mut set = CpuSet::new();
        for &cpu in cpus {
            set.set(cpu).map_err(|errno| Error::Affinity {
                cpus: cpus.to_vec(),
                source: std::io::Error::from(errno),
            })?;
        }
        // Pid 0 is the calling thread.
        sched_setaffinity(Pid::from_raw(0), &set).map_err(|errno| Error::Affinity {
            cpus: cpus.to_vec(),
            source: std::io::Error::from(errno),
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Err(Error::Affinity {
            cpus: cpus.to_vec(),
            source: std::io::Error::from(std::io::ErrorKind::Unsupported),
        })
    }
}

/// The CPUs the calling thread may run on, ascending (Linux only; empty
/// elsewhere).
pub fn current_thread_cpus() -> Vec<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::sched::{CpuSet, sched_getaffinity};
        use nix::unistd::Pid;
        match sched_getaffinity(Pid::from_raw(0)) {
            Ok(set) => (0..CpuSet::count())
                .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_as_redis_reads_them() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0,2,3").unwrap(), vec![0, 2, 3]);
        assert_eq!(parse_cpu_list("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_cpu_list("0-7:3").unwrap(), vec![0, 3, 6]);
        assert_eq!(parse_cpu_list("4, 1-2").unwrap(), vec![1, 2, 4]);
        assert_eq!(parse_cpu_list("1,1,0-1").unwrap(), vec![0, 1]);
        for bad in ["", "a", "1-", "-1", "3-1", "0-4:0", "1024", "0-2:x", "1;2"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_thread_can_be_pinned_to_a_cpu_it_may_use() {
        let allowed = std::thread::spawn(current_thread_cpus).join().unwrap();
        if allowed.is_empty() {
            return; // Not Linux.
        }
        let first = allowed[0];
        let pinned = std::thread::spawn(move || {
            pin_current_thread(&[first]).unwrap();
            current_thread_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(pinned, vec![first]);
        assert!(
            std::thread::spawn(|| pin_current_thread(&[CPU_NUMBER_MAX]))
                .join()
                .unwrap()
                .is_err()
                || allowed.contains(&CPU_NUMBER_MAX),
            "a CPU the machine lacks is refused"
        );
    }
}
