#![allow(clippy::unwrap_used)]
//! Property tests of the high-water-mark decoder: it never panics, and on a
//! file our writer could have produced, followed by any damage to the slot
//! being written, it returns a mark at least as large as the one before.

use keel_tso::Timestamp;
use keel_tso::decode_high_water_mark;
use keel_tso::high_water_mark::{FILE_BYTES, PAYLOAD_BYTES, SLOT_BYTES, encode_slot};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        // Failing inputs are saved beside this file, to be kept as regression cases.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..FILE_BYTES + 64)) {
        let _ = decode_high_water_mark(&bytes);
    }

    /// Two slots written alternately (sequence `sequence` holds the newer
    /// mark); the newer slot is then damaged as a torn write or media error
    /// could: the result is the newer mark if the slot survived, else the
    /// older one, never anything else.
    #[test]
    fn damage_to_the_newer_slot_falls_back_to_the_older(
        sequence in 2_u64..u64::MAX,
        older_mark in any::<u64>(),
        step in 1_u64..1 << 40,
        damage in proptest::collection::vec((0..SLOT_BYTES, any::<u8>()), 0..4),
    ) {
        let newer_mark = older_mark.saturating_add(step);
        let newer_slot = (sequence % 2) as usize;
        let mut file = vec![0; FILE_BYTES];
        let older = encode_slot(sequence - 1, Timestamp::from_u64(older_mark));
        let mut newer = encode_slot(sequence, Timestamp::from_u64(newer_mark));
        let pristine = newer;
        for (offset, mask) in damage {
            newer[offset] ^= mask;
        }
        file[(1 - newer_slot) * SLOT_BYTES..][..SLOT_BYTES].copy_from_slice(&older);
        file[newer_slot * SLOT_BYTES..][..SLOT_BYTES].copy_from_slice(&newer);
        let decoded = decode_high_water_mark(&file).unwrap().unwrap();
        // Damage confined to the padding is harmless; any other damage is
        // caught by the magic or the CRC.
        if newer[..PAYLOAD_BYTES] == pristine[..PAYLOAD_BYTES] {
            prop_assert_eq!(decoded.timestamp.as_u64(), newer_mark);
            prop_assert_eq!(decoded.slot, newer_slot);
        } else {
            prop_assert_eq!(decoded.timestamp.as_u64(), older_mark);
            prop_assert_eq!(decoded.sequence, sequence - 1);
        }
    }
}
