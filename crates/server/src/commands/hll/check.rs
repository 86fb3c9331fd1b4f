//! The checks the `hll_value` fuzz target (and `tests/fuzz_corpus.rs`)
//! runs on arbitrary bytes taken as a stored HLL value: every reader and
//! writer of `format.rs` and `sparse.rs` ends in a value or a typed
//! error, never a panic, and on an HLL whose runs are whole they agree
//! with each other and with a plain array of registers.

use super::format::{DENSE_BYTES, Encoding, HEADER_BYTES, Hll, HllError, REGISTERS};

/// `hll-sparse-max-bytes` values the first input byte picks from.
const SPARSE_BYTES_MAX: [u64; 4] = [0, 40, 300, 3000];
/// Offers made to one value.
const OFFERS_MAX: usize = 64;

/// Checks `bytes`: the first byte picks `hll-sparse-max-bytes`, the rest
/// is a value; then the rest again as the runs of a sparse HLL behind a
/// good header (what mutations of a whole value rarely reach).
pub fn check_arbitrary_value(bytes: &[u8]) {
    let Some((&selector, value)) = bytes.split_first() else {
        return;
    };
    let sparse_bytes_max = SPARSE_BYTES_MAX[usize::from(selector & 3)];
    check_value(value, sparse_bytes_max);
    let mut sealed = Hll::empty().into_bytes();
    sealed.truncate(HEADER_BYTES);
    sealed.extend_from_slice(value);
    check_value(&sealed, sparse_bytes_max);
}

fn check_value(value: &[u8], sparse_bytes_max: u64) {
    let Ok(hll) = Hll::parse(value) else {
        return;
    };
    let _ = hll.decode_sparse();
    let _ = hll.cached_cardinality();
    let registers = hll.registers();
    let histogram = hll.histogram();
    let mut dense = hll.clone();
    let converted = dense.to_dense();
    let (histogram, mut model) = match (histogram, registers, converted) {
        (Ok(histogram), Ok(model), Ok(_)) => (histogram, model),
        (histogram, registers, converted) => {
            assert!(
                histogram.is_err() && registers.is_err() && converted.is_err(),
                "the readers disagree on whether the runs are whole"
            );
            assert_eq!(hll.count(), Err(HllError::Corrupted));
            // Damaged runs: offers end in a value or in Corrupted.
            offer_from(&mut hll.clone(), value, sparse_bytes_max, None);
            return;
        }
    };
    if hll.ends_in_a_cut_xzero() {
        // Whole to read, not to update: an offer may damage them.
        offer_from(&mut hll.clone(), value, sparse_bytes_max, None);
        return;
    }
    // Whole runs read the same in both encodings.
    assert_eq!(dense.as_bytes().len(), DENSE_BYTES);
    assert_eq!(Hll::parse(dense.as_bytes()).as_ref(), Ok(&dense));
    assert_eq!(dense.registers().as_ref(), Ok(&model));
    assert_eq!(dense.histogram(), Ok(histogram));
    assert_eq!(dense.count(), hll.count());
    let mut offered = hll.clone();
    offer_from(&mut offered, value, sparse_bytes_max, Some(&mut model));
    assert_eq!(offered.registers().as_ref(), Ok(&model));
    assert!(offered.histogram().is_ok(), "offers keep the runs whole");
    if offered.encoding() == Encoding::Sparse {
        let bound = sparse_bytes_max.max(value.len() as u64);
        assert!(
            offered.as_bytes().len() as u64 <= bound,
            "a sparse HLL grew past its bound"
        );
    }
}

/// Offers registers and values taken from `value`, and adds a few of its
/// bytes as elements; each grows the register `model` says it grows.
fn offer_from(
    hll: &mut Hll,
    value: &[u8],
    sparse_bytes_max: u64,
    mut model: Option<&mut Box<[u8; REGISTERS]>>,
) {
    for chunk in value.chunks(3).take(OFFERS_MAX) {
        let index = usize::from(u16::from_le_bytes([
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
        ])) % REGISTERS;
        let register = chunk.get(2).copied().unwrap_or(1) % 52;
        match hll.offer(index, register, sparse_bytes_max) {
            Ok(grew) => {
                if let Some(model) = model.as_deref_mut() {
                    assert_eq!(
                        grew,
                        model[index] < register,
                        "register {index} offered {register}: {}",
                        hll.decode_sparse().unwrap_or_default()
                    );
                    model[index] = model[index].max(register);
                }
            }
            Err(error) => {
                assert_eq!(error, HllError::Corrupted);
                assert!(model.is_none(), "whole runs refused an offer");
                return;
            }
        }
    }
    for element in value.chunks(7).take(OFFERS_MAX / 8) {
        match hll.add(element, sparse_bytes_max) {
            Ok(_) => {
                if let Some(model) = model.as_deref_mut() {
                    let (index, register) = super::format::register_of(element);
                    model[index] = model[index].max(register);
                }
            }
            Err(error) => {
                assert_eq!(error, HllError::Corrupted);
                assert!(model.is_none(), "whole runs refused an element");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn seeds() -> Vec<Vec<u8>> {
        let mut small = Hll::empty();
        for element in 0..40u32 {
            let _ = small.add(&element.to_le_bytes(), 3000);
        }
        vec![
            Hll::empty().into_bytes(),
            small.into_bytes(),
            include_bytes!("testdata/sparse-300.hll").to_vec(),
            include_bytes!("testdata/dense-5000.hll").to_vec(),
        ]
    }

    #[test]
    fn damaged_values_never_panic_and_whole_ones_agree() {
        let mut rng = SmallRng::seed_from_u64(7);
        for seed in seeds() {
            for selector in 0..4u8 {
                let mut input = vec![selector];
                input.extend_from_slice(&seed);
                check_arbitrary_value(&input);
            }
            for _ in 0..300 {
                let mut value = seed.clone();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..value.len());
                    value[at] = rng.random();
                }
                if rng.random_bool(0.2) {
                    value.truncate(rng.random_range(0..=value.len()));
                }
                let mut input = vec![rng.random()];
                input.extend_from_slice(&value);
                check_arbitrary_value(&input);
            }
        }
    }

    #[test]
    fn random_runs_never_panic() {
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..2000 {
            let length = rng.random_range(0..64);
            let bytes: Vec<u8> = (0..length).map(|_| rng.random()).collect();
            check_arbitrary_value(&bytes);
        }
    }
}
