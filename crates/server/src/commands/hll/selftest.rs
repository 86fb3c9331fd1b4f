//! PFSELFTEST: Redis's self-test of the HLL implementation, on keel's:
//! dense registers keep what is set in them without touching their
//! neighbours, and a dense and a sparse HLL fed the same elements agree
//! and stay within the expected error at every power of ten up to ten
//! million.

use bytes::Bytes;

use super::format::{Hll, REGISTER_MAX, REGISTERS, get_dense, set_dense};
use super::sparse_bytes_max;
use crate::commands::Client;
use crate::resp::Reply;

/// Rounds of the register test.
const REGISTER_ROUNDS: usize = 1000;
/// Elements of the estimate test.
const ELEMENTS: u64 = 10_000_000;

/// PFSELFTEST.
pub(crate) fn pfselftest(_client: &mut Client, _arguments: &[Bytes]) -> Option<Reply> {
    let outcome = registers_keep_their_values(REGISTER_ROUNDS)
        .and_then(|()| estimates_agree(ELEMENTS, sparse_bytes_max(), rand::random()));
    Some(match outcome {
        Ok(()) => Reply::ok(),
        Err(failure) => Reply::error(format!("ERR TESTFAILED {failure}")),
    })
}

/// Sets every register of a dense HLL to random values `rounds` times
/// and reads them back.
pub(crate) fn registers_keep_their_values(rounds: usize) -> Result<(), String> {
    let mut registers = vec![0u8; REGISTERS * 6 / 8];
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..rounds {
        for (index, slot) in expected.iter_mut().enumerate() {
            *slot = rand::random::<u8>() & REGISTER_MAX;
            set_dense(&mut registers, index, *slot);
        }
        for (index, &value) in expected.iter().enumerate() {
            let read = get_dense(&registers, index);
            if read != value {
                return Err(format!("Register {index} should be {value} but is {read}"));
            }
        }
    }
    Ok(())
}

/// Adds `elements` distinct elements (8-byte words from `seed`) to a
/// dense and a sparse HLL, checking at 1, 10, 100 … that the sparse one is
/// still sparse while small, that both estimate alike, and that the
/// estimate is within six standard errors.
pub(crate) fn estimates_agree(
    elements: u64,
    sparse_bytes_max: u64,
    seed: u64,
) -> Result<(), String> {
    let mut dense = Hll::empty_dense();
    let mut sparse = Hll::empty();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1;
    for element in 1..=elements {
        let bytes = (element ^ seed).to_le_bytes();
        // Neither is damaged: adding cannot fail.
        let _ = dense.add(&bytes, sparse_bytes_max);
        let _ = sparse.add(&bytes, sparse_bytes_max);
        if element != checkpoint {
            continue;
        }
        if element < sparse_bytes_max / 2 && sparse.encoding() != super::Encoding::Sparse {
            return Err("sparse encoding not used".to_owned());
        }
        let estimate = dense.count().map_err(|error| error.to_string())?;
        if sparse.count().ok() != Some(estimate) {
            return Err("dense/sparse disagree".to_owned());
        }
        let error = checkpoint.abs_diff(estimate);
        let allowed = if checkpoint == 10 {
            1
        } else {
            (relative_error * 6.0 * checkpoint as f64).ceil() as u64
        };
        if error > allowed {
            return Err(format!("Too big error. card:{checkpoint} abserr:{error}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_self_test_passes() {
        assert_eq!(registers_keep_their_values(3), Ok(()));
        assert_eq!(estimates_agree(100_000, 3000, 0x5eed), Ok(()));
        // Under a large limit every checkpoint checks the sparse encoding.
        assert_eq!(estimates_agree(10_000, 1_000_000, 1), Ok(()));
    }
}
