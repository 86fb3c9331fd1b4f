//! The sparse encoding of an HLL's registers, as Redis 7.0 writes it: a
//! run of opcodes, each covering the next registers in order.
//!
//! - ZERO `00llllll`: 1 to 64 zero registers;
//! - XZERO `01llllll llllllll`: 1 to 16384 zero registers;
//! - VAL `1vvvvvll`: 1 to 4 registers of value 1 to 32.
//!
//! Whole runs cover exactly 16384 registers; the readers of all of them
//! (the histogram, the register walk of PFMERGE and of the change to
//! dense) refuse any others as [`HllError::Corrupted`], as Redis does
//! since the fix of CVE-2025-32023 (7.0.15's own source stopped the walk
//! at a VAL past the end and kept what it had; Debian's 7.0.15, 7.2.10
//! and later refuse it). An update, as in Redis, reads only as far as
//! the register it changes. An XZERO cut off by the end of the string
//! reads its second byte as zero (Redis reads the string's terminating
//! NUL).

use super::estimate::Histogram;
use super::format::{HEADER_BYTES, HllError, REGISTERS};

/// A sparse HLL's runs when every register is zero: one XZERO.
pub const EMPTY: [u8; 2] = [
    XZERO_BIT | ((REGISTERS - 1) >> 8) as u8,
    (REGISTERS - 1) as u8,
];

const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;
const ZERO_LENGTH_MAX: usize = 64;
/// The largest value a VAL holds.
pub const VAL_VALUE_MAX: u8 = 32;
const VAL_LENGTH_MAX: usize = 4;
/// Adjacent VALs the update looks at for a merge (Redis's 5).
const MERGE_SCANS: usize = 5;

/// One opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opcode {
    Zero(usize),
    Xzero(usize),
    Val { value: u8, length: usize },
}

impl Opcode {
    /// The opcode at `at` (which must be within `bytes`).
    fn at(bytes: &[u8], at: usize) -> Opcode {
        let first = bytes[at];
        if first & VAL_BIT != 0 {
            Opcode::Val {
                value: (first >> 2 & 0x1f) + 1,
                length: usize::from(first & 0x3) + 1,
            }
        } else if first & XZERO_BIT != 0 {
            let second = bytes.get(at + 1).copied().unwrap_or(0);
            Opcode::Xzero((usize::from(first & 0x3f) << 8 | usize::from(second)) + 1)
        } else {
            Opcode::Zero(usize::from(first & 0x3f) + 1)
        }
    }

    /// The registers it covers.
    fn span(self) -> usize {
        match self {
            Opcode::Zero(length) | Opcode::Xzero(length) | Opcode::Val { length, .. } => length,
        }
    }

    /// Its bytes.
    fn bytes(self) -> usize {
        if matches!(self, Opcode::Xzero(_)) {
            2
        } else {
            1
        }
    }
}

/// A VAL's byte (`value` 1..=32, `length` 1..=4).
fn val(value: u8, length: usize) -> u8 {
    // Both fit their fields: the narrowing is exact.
    VAL_BIT | (value - 1) << 2 | (length - 1) as u8
}

/// Appends the opcode for `length` zero registers (1..=16384).
fn push_zeros(sequence: &mut Vec<u8>, length: usize) {
    let stored = length - 1;
    if length > ZERO_LENGTH_MAX {
        // 14 bits: the narrowings keep them.
        sequence.extend_from_slice(&[XZERO_BIT | (stored >> 8) as u8, stored as u8]);
    } else {
        sequence.push(stored as u8);
    }
}

/// The opcodes of `runs`, in order.
fn opcodes(runs: &[u8]) -> impl Iterator<Item = Opcode> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        (at < runs.len()).then(|| {
            let opcode = Opcode::at(runs, at);
            at += opcode.bytes();
            opcode
        })
    })
}

/// How many registers hold each value; `Corrupted` unless the runs cover
/// exactly 16384 registers.
pub fn histogram(runs: &[u8]) -> Result<Histogram, HllError> {
    let mut histogram = [0; 64];
    let mut covered = 0usize;
    for opcode in opcodes(runs) {
        let value = match opcode {
            Opcode::Val { value, .. } => usize::from(value),
            _ => 0,
        };
        histogram[value] += opcode.span() as u64;
        covered = covered.saturating_add(opcode.span());
    }
    if covered != REGISTERS {
        return Err(HllError::Corrupted);
    }
    Ok(histogram)
}

/// Calls `visit(index, value)` for each register of a VAL, in order;
/// `Corrupted` (after visiting some) unless the runs cover exactly 16384
/// registers.
pub fn for_each_run(runs: &[u8], mut visit: impl FnMut(usize, u8)) -> Result<(), HllError> {
    let mut covered = 0usize;
    for opcode in opcodes(runs) {
        covered = covered.saturating_add(opcode.span());
        if covered > REGISTERS {
            return Err(HllError::Corrupted);
        }
        if let Opcode::Val { value, length } = opcode {
            for index in covered - length..covered {
                visit(index, value);
            }
        }
    }
    if covered != REGISTERS {
        return Err(HllError::Corrupted);
    }
    Ok(())
}

/// Whether the last opcode is an XZERO cut off by the end of `runs`
/// (read with a zero second byte, but split by an update as Redis splits
/// it, losing a byte).
pub fn ends_in_a_cut_xzero(runs: &[u8]) -> bool {
    let mut at = 0;
    for opcode in opcodes(runs) {
        at += opcode.bytes();
    }
    at > runs.len()
}

/// PFDEBUG DECODE's text: `z:LEN` for a ZERO, `Z:LEN` for an XZERO,
/// `v:VALUE,LEN` for a VAL, separated by spaces.
pub fn decode_text(runs: &[u8]) -> String {
    let words: Vec<String> = opcodes(runs)
        .map(|opcode| match opcode {
            Opcode::Zero(length) => format!("z:{length}"),
            Opcode::Xzero(length) => format!("Z:{length}"),
            Opcode::Val { value, length } => format!("v:{value},{length}"),
        })
        .collect();
    words.join(" ")
}

/// What [`offer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseSet {
    /// The register already held as much.
    Unchanged,
    /// The register grew.
    Raised,
    /// The value needs the dense encoding: it is above 32, or the runs
    /// would grow past `sparse_bytes_max`. Nothing changed.
    TooLarge,
}

/// The opcode covering a register: where it is, the register it starts
/// at, and where the opcode before it is.
struct Covering {
    at: usize,
    first: usize,
    previous: Option<usize>,
    opcode: Opcode,
}

/// The opcode of `value` (a whole sparse HLL string) covering register
/// `index`, if the runs reach it.
fn covering(value: &[u8], index: usize) -> Option<Covering> {
    let (mut at, mut first, mut previous) = (HEADER_BYTES, 0usize, None);
    while at < value.len() {
        let opcode = Opcode::at(value, at);
        if index < first + opcode.span() {
            return Some(Covering {
                at,
                first,
                previous,
                opcode,
            });
        }
        previous = Some(at);
        at += opcode.bytes();
        first += opcode.span();
    }
    None
}

/// Raises register `index` of `value` (a whole sparse HLL string) to
/// `register` if it is lower, splitting the opcode that covers it and
/// merging equal VALs around it as Redis does (so the bytes are Redis's).
pub fn offer(
    value: &mut Vec<u8>,
    index: usize,
    register: u8,
    sparse_bytes_max: u64,
) -> Result<SparseSet, HllError> {
    if register == 0 {
        // No register is below zero (and a VAL cannot hold it).
        return Ok(SparseSet::Unchanged);
    }
    if register > VAL_VALUE_MAX {
        return Ok(SparseSet::TooLarge);
    }
    let covering = covering(value, index).ok_or(HllError::Corrupted)?;
    let opcode = covering.opcode;
    match opcode {
        Opcode::Val { value: old, .. } if old >= register => return Ok(SparseSet::Unchanged),
        Opcode::Val { length: 1, .. } | Opcode::Zero(1) => value[covering.at] = val(register, 1),
        _ => {
            let sequence = split(opcode, index - covering.first, register);
            let length = value.len() + sequence.len() - opcode.bytes();
            if sequence.len() > opcode.bytes() && length as u64 > sparse_bytes_max {
                return Ok(SparseSet::TooLarge);
            }
            let end = (covering.at + opcode.bytes()).min(value.len());
            value.splice(covering.at..end, sequence);
            // An XZERO cut off by the end of the string counted a byte it
            // did not have.
            value.truncate(length);
        }
    }
    merge_values(value, covering.previous.unwrap_or(HEADER_BYTES));
    Ok(SparseSet::Raised)
}

/// The opcodes replacing `opcode` when its register `offset` becomes
/// `register`: the registers before, the one VAL, the registers after.
fn split(opcode: Opcode, offset: usize, register: u8) -> Vec<u8> {
    let after = opcode.span() - 1 - offset;
    let mut sequence = Vec::with_capacity(5);
    match opcode {
        Opcode::Val { value, .. } => {
            if offset > 0 {
                sequence.push(val(value, offset));
            }
            sequence.push(val(register, 1));
            if after > 0 {
                sequence.push(val(value, after));
            }
        }
        Opcode::Zero(_) | Opcode::Xzero(_) => {
            if offset > 0 {
                push_zeros(&mut sequence, offset);
            }
            sequence.push(val(register, 1));
            if after > 0 {
                push_zeros(&mut sequence, after);
            }
        }
    }
    sequence
}

/// Merges adjacent VALs of one value into one opcode where their lengths
/// fit, looking at up to five opcodes from `at`.
fn merge_values(value: &mut Vec<u8>, mut at: usize) {
    let mut scans = MERGE_SCANS;
    while at < value.len() && scans > 0 {
        scans -= 1;
        let Opcode::Val {
            value: left,
            length: left_length,
        } = Opcode::at(value, at)
        else {
            at += Opcode::at(value, at).bytes();
            continue;
        };
        if at + 1 < value.len()
            && let Opcode::Val {
                value: right,
                length: right_length,
            } = Opcode::at(value, at + 1)
            && left == right
            && left_length + right_length <= VAL_LENGTH_MAX
        {
            value[at + 1] = val(left, left_length + right_length);
            value.remove(at);
            continue;
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::hll::format::Hll;

    /// The runs after offering each `(index, value)` to an empty HLL, as
    /// PFDEBUG DECODE shows them.
    fn after(offers: &[(usize, u8)]) -> String {
        let mut value = Hll::empty().into_bytes();
        for &(index, register) in offers {
            assert_eq!(
                offer(&mut value, index, register, 3000),
                Ok(SparseSet::Raised)
            );
        }
        decode_text(&value[HEADER_BYTES..])
    }

    #[test]
    fn offers_split_runs_as_redis_does() {
        assert_eq!(after(&[]), "Z:16384");
        assert_eq!(after(&[(0, 1)]), "v:1,1 Z:16383");
        assert_eq!(after(&[(16383, 32)]), "Z:16383 v:32,1");
        // Up to 64 zeros take a ZERO, more an XZERO.
        assert_eq!(after(&[(64, 3)]), "z:64 v:3,1 Z:16319");
        assert_eq!(after(&[(65, 3)]), "Z:65 v:3,1 Z:16318");
        assert_eq!(after(&[(5, 2), (3, 1)]), "z:3 v:1,1 z:1 v:2,1 Z:16378");
        // A VAL of several registers splits around the one raised.
        assert_eq!(
            after(&[(0, 1), (1, 1), (2, 1), (1, 4)]),
            "v:1,1 v:4,1 v:1,1 Z:16381"
        );
    }

    #[test]
    fn equal_neighbours_merge_up_to_four() {
        assert_eq!(after(&[(0, 1), (1, 1)]), "v:1,2 Z:16382");
        assert_eq!(after(&[(0, 1), (1, 1), (2, 1), (3, 1)]), "v:1,4 Z:16380");
        assert_eq!(
            after(&[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]),
            "v:1,4 v:1,1 Z:16379"
        );
        // A register filling a ZERO of one between equal VALs.
        assert_eq!(after(&[(0, 2), (2, 2), (1, 2)]), "v:2,3 Z:16381");
    }

    #[test]
    fn an_offer_changes_nothing_it_does_not_raise() {
        let mut value = Hll::empty().into_bytes();
        assert_eq!(offer(&mut value, 9, 5, 3000), Ok(SparseSet::Raised));
        let before = value.clone();
        assert_eq!(offer(&mut value, 9, 5, 3000), Ok(SparseSet::Unchanged));
        assert_eq!(offer(&mut value, 9, 1, 3000), Ok(SparseSet::Unchanged));
        assert_eq!(offer(&mut value, 10, 0, 3000), Ok(SparseSet::Unchanged));
        assert_eq!(offer(&mut value, 9, 33, 3000), Ok(SparseSet::TooLarge));
        assert_eq!(offer(&mut value, 100, 1, 19), Ok(SparseSet::TooLarge));
        assert_eq!(value, before);
    }

    #[test]
    fn offers_to_damaged_runs_read_only_up_to_their_register() {
        let header = &Hll::empty().into_bytes()[..HEADER_BYTES];
        // No runs: no register is covered.
        let mut bare = header.to_vec();
        assert_eq!(offer(&mut bare, 0, 1, 3000), Err(HllError::Corrupted));
        // Runs that stop short: the registers past them are not covered,
        // those before are raised.
        let mut short = header.to_vec();
        short.extend_from_slice(&[0x40, 0x63]);
        assert_eq!(offer(&mut short, 100, 1, 3000), Err(HllError::Corrupted));
        assert_eq!(offer(&mut short, 10, 1, 3000), Ok(SparseSet::Raised));
        assert_eq!(decode_text(&short[HEADER_BYTES..]), "z:10 v:1,1 Z:89");
        // An XZERO cut off by the end splits as Redis splits it: its
        // missing byte counted, the last byte of the split lost.
        assert!(!ends_in_a_cut_xzero(&EMPTY));
        assert!(ends_in_a_cut_xzero(&[0x7f]) && ends_in_a_cut_xzero(&[0x80, 0x41]));
        let mut cut = header.to_vec();
        cut.push(0x7f);
        assert_eq!(offer(&mut cut, 0, 1, 3000), Ok(SparseSet::Raised));
        assert_eq!(&cut[HEADER_BYTES..], &[0x80, 0x7e]);
    }

    #[test]
    fn the_histogram_counts_every_run() {
        let mut value = Hll::empty().into_bytes();
        for (index, register) in [(0, 1), (1, 1), (7, 3), (16383, 32)] {
            offer(&mut value, index, register, 3000).expect("whole");
        }
        let histogram = histogram(&value[HEADER_BYTES..]).expect("whole");
        assert_eq!(histogram[0], 16380);
        assert_eq!((histogram[1], histogram[3], histogram[32]), (2, 1, 1));
        assert_eq!(histogram.iter().sum::<u64>(), REGISTERS as u64);
    }
}
