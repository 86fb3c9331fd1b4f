//! The CRC32C checksums of pages and map nodes.
//!
//! Each checksum is seeded with what the block is supposed to be (the page
//! id, or the map node's level and index), so a block that holds a valid
//! image of a *different* page — a misdirected or lost write — fails the
//! check as surely as a torn or rotten one.
//!
//! Every page read from disk is checked and every page written is summed,
//! so the CRC of a 4 KiB page is on the miss path and the checkpoint path.
//! The `crc32c` crate runs the SSE 4.2 `crc32` instruction (three streams
//! at once, at most 8 bytes a cycle). Where the processor has AVX-512
//! carry-less multiplication (`vpclmulqdq`), [`crc32c_append`] folds the
//! input 512 bits at a time instead, in one of two ways
//! ([`FoldingMethod`]): all of it folded, or each 4 KiB half folded and
//! half summed as eight `crc32` streams, using both units at once. Which
//! is faster depends on the processor, by nearly 2x either way: measured
//! with `cargo bench -p keel-pager --bench miss_reads -- page_checksum`,
//! a 4 KiB page took 37 ns folded against 66 ns split on an Intel Xeon
//! (Granite Rapids: one `crc32` a cycle, one 512-bit `vpclmulqdq` a
//! cycle), and 77 ns folded against 49 ns split on an AMD Zen 5 (two
//! `crc32` a cycle, one `vpclmulqdq` every other cycle); the crate took
//! 150–210 ns on both. So the first checksum times both on a 4 KiB buffer
//! (about 20 µs, once per process) and keeps the faster, as Linux picks
//! its RAID-6 and XOR routines at boot. Both give the same checksums: the
//! tests compare each with the crate on every length and alignment.
//! Without `vpclmulqdq` it is the crate: the same folding with 128-bit
//! `pclmulqdq` measured slower than it.

use crate::page_id::PageId;

/// The checksum of a page's contents, as its map entry records it: the
/// CRC32C of the page id (8 bytes, little-endian) followed by the page.
pub fn page_checksum(page: PageId, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(method) = folds(data) {
        // SAFETY: `folds` gives a method only where the processor has the
        // features the function is compiled for.
        return unsafe { folding::crc32c_after_u64_wide(method, page.get(), data) };
    }
    crc32c::crc32c_append(crc32c::crc32c(&page.get().to_le_bytes()), data)
}

/// CRC32C of `data` continuing from `crc`: the same value as
/// `crc32c::crc32c_append(crc, data)`, faster on long inputs.
#[inline]
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if let Some(method) = folds(data) {
        // SAFETY: `folds` gives a method only where the processor has the
        // features the function is compiled for.
        return unsafe { folding::crc32c_append_wide(method, crc, data) };
    }
    crc32c::crc32c_append(crc, data)
}

/// The method to fold `data` by, if it is long enough to fold and the
/// processor can.
#[cfg(target_arch = "x86_64")]
#[inline]
fn folds(data: &[u8]) -> Option<FoldingMethod> {
    if data.len() < folding::WIDE_BYTES_MIN {
        return None;
    }
    folding::method()
}

/// How long inputs are summed on this processor: chosen once per process
/// by timing both (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoldingMethod {
    /// Every byte folded by carry-less multiplication, eight 512-bit
    /// registers at a time.
    Fold,
    /// Each 4 KiB half folded and half summed by `crc32` streams.
    Split,
}

/// The method [`crc32c_append`] and [`page_checksum`] use for long inputs
/// on this processor, `None` where they use the `crc32c` crate (no
/// AVX-512 carry-less multiplication). Chooses it on the first call.
pub fn folding_method() -> Option<FoldingMethod> {
    #[cfg(target_arch = "x86_64")]
    {
        folding::method()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// CRC32C by carry-less multiplication: the message is folded, 512 bits at
/// a time, onto eight running 512-bit remainders (Gopal et al., "Fast CRC
/// Computation for Generic Polynomials Using PCLMULQDQ Instruction",
/// Intel, 2009, in its bit-reflected form, on each 128-bit lane), which
/// are then folded into one 128-bit remainder; the `crc32` instruction
/// reduces those 16 bytes and the tail to the CRC.
#[cfg(target_arch = "x86_64")]
mod folding {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::FoldingMethod;
    use std::arch::x86_64::{
        __m128i, __m512i, _mm_clmulepi64_si128, _mm_crc32_u8, _mm_crc32_u64, _mm_cvtsi32_si128,
        _mm_cvtsi128_si64, _mm_loadu_si128, _mm_set_epi64x, _mm_srli_si128, _mm_xor_si128,
        _mm512_castsi128_si512, _mm512_clmulepi64_epi128, _mm512_extracti32x4_epi32,
        _mm512_loadu_si512, _mm512_set_epi64, _mm512_ternarylogic_epi64, _mm512_xor_si512,
    };

    /// Folding constants for a distance of `d` bits: x^(d+32) and
    /// x^(d-32) mod P (P the Castagnoli polynomial 0x1EDC6F41),
    /// bit-reflected and shifted left by one (`fold_constant` in the tests
    /// derives them).
    pub(super) const FOLD_512: (i64, i64) = (0x740e_ef02, 0x9e4a_ddf8);
    pub(super) const FOLD_128: (i64, i64) = (0xf20c_0dfe, 0x1_4cd0_0bd6);
    pub(super) const FOLD_256: (i64, i64) = (fold_key(256 + 32), fold_key(256 - 32));

    /// A folding constant: x^n mod P in the form above.
    const fn fold_key(n: usize) -> i64 {
        (x_to_the_mod_p(n) as i64) << 1
    }

    /// The same for distances of 1024, 2048 and 4096 bits (two, four and
    /// eight 512-bit registers).
    pub(super) const FOLD_1024: (i64, i64) = (0x6992_cea2, 0x0d3b_6092);
    pub(super) const FOLD_2048: (i64, i64) = (0xdcb1_7aa4, 0xb9e0_2b86);
    pub(super) const FOLD_4096: (i64, i64) = (0xbd6f_81f8, 0xdd7e_3b0c);

    /// 512-bit registers folded side by side: enough to keep the
    /// multiplier busy while each waits for its last product.
    const WIDE_LANES: usize = 8;

    /// The shortest input worth folding 512 bits at a time: a 64-byte
    /// block per register.
    pub(super) const WIDE_BYTES_MIN: usize = WIDE_LANES * 64;

    /// The folding method of this processor, or `None` if it lacks what
    /// folding needs: `vpclmulqdq`, `avx512f`, `pclmulqdq` and `sse4.2`.
    /// Detected and chosen once; after that one load (the four detections
    /// cost a twentieth of a page's checksum).
    #[inline]
    pub(super) fn method() -> Option<FoldingMethod> {
        match METHOD.load(Ordering::Relaxed) {
            FOLD => Some(FoldingMethod::Fold),
            SPLIT => Some(FoldingMethod::Split),
            NONE => None,
            _ => choose_method(),
        }
    }

    static METHOD: AtomicU8 = AtomicU8::new(UNKNOWN);
    const UNKNOWN: u8 = 0;
    const NONE: u8 = 1;
    const FOLD: u8 = 2;
    const SPLIT: u8 = 3;

    /// Rounds of the timing that chooses the method, each side in turn...
    const CHOICE_ROUNDS: usize = 16;
    /// ...of this many 4 KiB checksums each.
    const CHOICE_ROUND_SUMS: usize = 8;

    /// Detects the features and, if folding is possible, times both
    /// methods on a 4 KiB buffer, in alternating rounds so that a burst of
    /// load on the machine hits both alike, and keeps the one whose
    /// fastest round was faster. Threads that race here may time and
    /// store different methods; either is correct.
    #[cold]
    #[inline(never)]
    fn choose_method() -> Option<FoldingMethod> {
        if !features_detected() {
            METHOD.store(NONE, Ordering::Relaxed);
            return None;
        }
        let data: Vec<u8> = (0..SPLIT_BYTES as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let time = |method: FoldingMethod| {
            let start = std::time::Instant::now();
            for _ in 0..CHOICE_ROUND_SUMS {
                // SAFETY: the features were detected above.
                std::hint::black_box(unsafe {
                    crc32c_append_wide(method, 0, std::hint::black_box(&data))
                });
            }
            start.elapsed()
        };
        let (mut fold, mut split) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..CHOICE_ROUNDS {
            fold = fold.min(time(FoldingMethod::Fold));
            split = split.min(time(FoldingMethod::Split));
        }
        let (method, code) = if split < fold {
            (FoldingMethod::Split, SPLIT)
        } else {
            (FoldingMethod::Fold, FOLD)
        };
        METHOD.store(code, Ordering::Relaxed);
        Some(method)
    }

    /// Whether the processor has what folding needs.
    pub(super) fn features_detected() -> bool {
        std::is_x86_feature_detected!("vpclmulqdq")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("sse4.2")
    }

    /// `a` moved forward over the 128-bit distance `keys` were made for,
    /// added to `b`.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse4.2")]
    fn fold(a: __m128i, b: __m128i, keys: __m128i) -> __m128i {
        let low = _mm_clmulepi64_si128::<0x00>(a, keys);
        let high = _mm_clmulepi64_si128::<0x11>(a, keys);
        _mm_xor_si128(_mm_xor_si128(b, low), high)
    }

    /// Keys for `fold_wide`: the pair in each 128-bit lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn wide_keys(keys: (i64, i64)) -> __m512i {
        _mm512_set_epi64(
            keys.1, keys.0, keys.1, keys.0, keys.1, keys.0, keys.1, keys.0,
        )
    }

    /// `fold` on each of the four 128-bit lanes of 512-bit registers.
    #[inline]
    #[target_feature(enable = "vpclmulqdq,avx512f")]
    fn fold_wide(a: __m512i, b: __m512i, keys: __m512i) -> __m512i {
        let low = _mm512_clmulepi64_epi128::<0x00>(a, keys);
        let high = _mm512_clmulepi64_epi128::<0x11>(a, keys);
        // 0x96: the exclusive or of all three.
        _mm512_ternarylogic_epi64::<0x96>(b, low, high)
    }

    /// The CRC32C of `value` (8 bytes, little-endian) followed by `data`:
    /// the value by one `crc32` instruction, inline (measured: through the
    /// crate, a call that was a twentieth of a miss's own time).
    ///
    /// # Safety
    /// As [`crc32c_append_wide`].
    #[target_feature(enable = "vpclmulqdq,avx512f,pclmulqdq,sse4.2")]
    pub(super) unsafe fn crc32c_after_u64_wide(
        method: FoldingMethod,
        value: u64,
        data: &[u8],
    ) -> u32 {
        let crc = !(_mm_crc32_u64(u64::from(u32::MAX), value) as u32);
        // SAFETY: the same features (this function's contract).
        unsafe { crc32c_append_wide(method, crc, data) }
    }

    /// The CRC32C of `data` (at least [`WIDE_BYTES_MIN`] bytes) continuing
    /// from `crc`, by `method`.
    ///
    /// # Safety
    /// The processor must have `vpclmulqdq`, `avx512f`, `pclmulqdq` and
    /// `sse4.2`.
    #[target_feature(enable = "vpclmulqdq,avx512f,pclmulqdq,sse4.2")]
    pub(super) unsafe fn crc32c_append_wide(method: FoldingMethod, crc: u32, data: &[u8]) -> u32 {
        assert!(data.len() >= WIDE_BYTES_MIN);
        if method == FoldingMethod::Fold {
            return crc32c_fold(crc, data);
        }
        let mut crc = crc;
        let mut chunks = data.chunks_exact(SPLIT_BYTES);
        for chunk in &mut chunks {
            crc = crc32c_split(crc, chunk);
        }
        let rest = chunks.remainder();
        if rest.len() >= WIDE_BYTES_MIN {
            crc32c_fold(crc, rest)
        } else {
            crc32c::crc32c_append(crc, rest)
        }
    }

    /// Bytes [`crc32c_split`] takes: a 4 KiB page, or a part of a larger
    /// one.
    pub(super) const SPLIT_BYTES: usize = 4096;
    /// The first half of them is folded by carry-less multiplication, two
    /// 64-byte blocks per step of the loop...
    const SPLIT_FOLDED_BYTES: usize = 2048;
    const SPLIT_STEPS: usize = SPLIT_FOLDED_BYTES / 128;
    /// ...while each of this many streams of the rest sums 16 bytes with
    /// the `crc32` instruction.
    const SPLIT_STREAMS: usize = 8;
    const SPLIT_STREAM_BYTES: usize = SPLIT_STEPS * 16;
    const _: () = assert!(SPLIT_FOLDED_BYTES + SPLIT_STREAMS * SPLIT_STREAM_BYTES == SPLIT_BYTES);

    /// x^n mod P (the Castagnoli polynomial), bit-reflected: the form of a
    /// 32-bit CRC state.
    pub(super) const fn x_to_the_mod_p(n: usize) -> u32 {
        let mut remainder: u64 = 1;
        let mut power = 0;
        while power < n {
            remainder <<= 1;
            if remainder & (1 << 32) != 0 {
                remainder ^= 0x1_1EDC_6F41;
            }
            power += 1;
        }
        (remainder as u32).reverse_bits()
    }

    /// `SHIFT_KEYS[k]`: the key that moves a state over `k` streams' bytes
    /// ([`shift`]); the folded part's moves over all of them.
    const SHIFT_KEYS: [u32; SPLIT_STREAMS + 1] = {
        let mut keys = [0; SPLIT_STREAMS + 1];
        let mut streams = 1;
        while streams <= SPLIT_STREAMS {
            keys[streams] = x_to_the_mod_p(streams * SPLIT_STREAM_BYTES * 8 - 33);
            streams += 1;
        }
        keys
    };

    /// A CRC state (no final inversion) as it would be after `key`'s
    /// number of zero bytes more: the state times x^(8n) mod P. The
    /// carry-less product of state and key = x^(8n-33) is a 63-bit value
    /// that the `crc32` instruction reduces, times x^33.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse4.2")]
    fn shift(state: u32, key: u32) -> u32 {
        let product = _mm_clmulepi64_si128::<0x00>(
            _mm_cvtsi32_si128(state as i32),
            _mm_cvtsi32_si128(key as i32),
        );
        _mm_crc32_u64(0, _mm_cvtsi128_si64(product) as u64) as u32
    }

    /// The CRC32C of a 4 KiB `data` continuing from `crc`, by both of the
    /// processor's ways at once: measured on an AMD Zen 5, `vpclmulqdq` on
    /// 512 bits issues once per two cycles (one 64-byte block per four: 16
    /// bytes a cycle), and `crc32` twice per cycle with a latency of three
    /// (16 bytes a cycle from six streams on); they use different units,
    /// and 2 KiB each way took 120 cycles alone, 150 in one loop. So the
    /// first half is folded, two registers at a time, while the second is
    /// summed as eight streams of `crc32`; each part's state is then moved
    /// over the bytes that follow it ([`shift`]) and added. Measured there:
    /// 4 KiB in 49–50 ns against 77 ns folding all of it (`cargo bench -p
    /// keel-pager --bench miss_reads -- page_checksum`). (Streams first
    /// and the folded part last, or other shares of the two, measured
    /// 50–58 ns.) Where `crc32` issues once a cycle (Intel), the streams
    /// are the slower half and [`crc32c_fold`] wins.
    #[inline]
    #[target_feature(enable = "vpclmulqdq,avx512f,pclmulqdq,sse4.2")]
    fn crc32c_split(crc: u32, data: &[u8]) -> u32 {
        assert_eq!(data.len(), SPLIT_BYTES);
        let block = |index: usize| {
            debug_assert!(index < SPLIT_FOLDED_BYTES / 64);
            // SAFETY: 64-byte block `index` lies within `data` (in its
            // folded part), and an unaligned load may read any 64 bytes.
            unsafe { _mm512_loadu_si512(data.as_ptr().add(index * 64).cast()) }
        };
        let word = |stream: usize, step: usize, half: usize| {
            let offset = SPLIT_FOLDED_BYTES + stream * SPLIT_STREAM_BYTES + step * 16 + half * 8;
            debug_assert!(offset + 8 <= SPLIT_BYTES);
            // SAFETY: in bounds (the length is asserted above and the
            // offset is below it by construction); any 8 bytes may be read
            // unaligned.
            unsafe { data.as_ptr().add(offset).cast::<u64>().read_unaligned() }
        };
        let mut streams = [0u64; SPLIT_STREAMS];
        let sum_streams = |streams: &mut [u64; SPLIT_STREAMS], step: usize| {
            for (stream, state) in streams.iter_mut().enumerate() {
                *state = _mm_crc32_u64(*state, word(stream, step, 0));
                *state = _mm_crc32_u64(*state, word(stream, step, 1));
            }
        };
        // The running CRC enters as the first 32 bits of the message.
        let mut lanes = [
            _mm512_xor_si512(
                block(0),
                _mm512_castsi128_si512(_mm_cvtsi32_si128(!crc as i32)),
            ),
            block(1),
        ];
        sum_streams(&mut streams, 0);
        let keys = wide_keys(FOLD_1024);
        for step in 1..SPLIT_STEPS {
            lanes[0] = fold_wide(lanes[0], block(2 * step), keys);
            lanes[1] = fold_wide(lanes[1], block(2 * step + 1), keys);
            sum_streams(&mut streams, step);
        }
        let wide = fold_wide(lanes[0], lanes[1], wide_keys(FOLD_512));
        let folded = reduce(fold_lanes(wide));
        let mut state = shift(folded, SHIFT_KEYS[SPLIT_STREAMS]);
        for (stream, &stream_state) in streams.iter().enumerate() {
            let after = SPLIT_STREAMS - 1 - stream;
            state ^= if after == 0 {
                stream_state as u32
            } else {
                shift(stream_state as u32, SHIFT_KEYS[after])
            };
        }
        !state
    }

    /// The CRC32C of `data` (at least [`WIDE_BYTES_MIN`] bytes) continuing
    /// from `crc`, all of it folded.
    #[inline]
    #[target_feature(enable = "vpclmulqdq,avx512f,pclmulqdq,sse4.2")]
    fn crc32c_fold(crc: u32, data: &[u8]) -> u32 {
        assert!(data.len() >= WIDE_BYTES_MIN);
        let blocks = data.len() / 64;
        let block = |index: usize| {
            debug_assert!(index < blocks);
            // SAFETY: 64-byte block `index` lies within `data`, and an
            // unaligned load may read any 64 bytes.
            unsafe { _mm512_loadu_si512(data.as_ptr().add(index * 64).cast()) }
        };
        let mut lanes: [__m512i; WIDE_LANES] = std::array::from_fn(block);
        // The running CRC enters as the first 32 bits of the message.
        lanes[0] = _mm512_xor_si512(
            lanes[0],
            _mm512_castsi128_si512(_mm_cvtsi32_si128(!crc as i32)),
        );
        let keys = wide_keys(FOLD_4096);
        let mut next = WIDE_LANES;
        while next + WIDE_LANES <= blocks {
            for (lane, remainder) in lanes.iter_mut().enumerate() {
                *remainder = fold_wide(*remainder, block(next + lane), keys);
            }
            next += WIDE_LANES;
        }
        // Eight registers into one: neighbours, then pairs, then fours.
        let keys = wide_keys(FOLD_512);
        let pairs: [__m512i; 4] =
            std::array::from_fn(|pair| fold_wide(lanes[2 * pair], lanes[2 * pair + 1], keys));
        let keys = wide_keys(FOLD_1024);
        let fours = [
            fold_wide(pairs[0], pairs[1], keys),
            fold_wide(pairs[2], pairs[3], keys),
        ];
        let mut wide = fold_wide(fours[0], fours[1], wide_keys(FOLD_2048));
        let keys = wide_keys(FOLD_512);
        while next < blocks {
            wide = fold_wide(wide, block(next), keys);
            next += 1;
        }
        finish(fold_lanes(wide), &data[blocks * 64..])
    }

    /// The four 128-bit remainders of a 512-bit one folded into one: by
    /// pairs, then the pairs (two products deep instead of three).
    #[inline]
    #[target_feature(enable = "avx512f,pclmulqdq,sse4.2")]
    fn fold_lanes(wide: __m512i) -> __m128i {
        let keys = _mm_set_epi64x(FOLD_128.1, FOLD_128.0);
        let first = fold(
            _mm512_extracti32x4_epi32::<0>(wide),
            _mm512_extracti32x4_epi32::<1>(wide),
            keys,
        );
        let second = fold(
            _mm512_extracti32x4_epi32::<2>(wide),
            _mm512_extracti32x4_epi32::<3>(wide),
            keys,
        );
        fold(first, second, _mm_set_epi64x(FOLD_256.1, FOLD_256.0))
    }

    /// The CRC state (before the final inversion) of everything folded
    /// into `remainder`: the 16 folded bytes are a message with the same
    /// CRC as all of the blocks, which the crc32 instruction reduces.
    #[inline]
    #[target_feature(enable = "sse4.2")]
    fn reduce(remainder: __m128i) -> u32 {
        let low = _mm_cvtsi128_si64(remainder) as u64;
        let high = _mm_cvtsi128_si64(_mm_srli_si128::<8>(remainder)) as u64;
        _mm_crc32_u64(_mm_crc32_u64(0, low), high) as u32
    }

    /// The CRC of everything folded into `remainder`, followed by `tail`.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse4.2")]
    fn finish(remainder: __m128i, tail: &[u8]) -> u32 {
        let mut remainder = remainder;
        let keys = _mm_set_epi64x(FOLD_128.1, FOLD_128.0);
        let mut blocks = tail.chunks_exact(16);
        for block in &mut blocks {
            // SAFETY: `block` holds 16 bytes.
            let block = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
            remainder = fold(remainder, block, keys);
        }
        let mut state = reduce(remainder);
        for &byte in blocks.remainder() {
            state = _mm_crc32_u8(state, byte);
        }
        !state
    }
}

/// The checksum of a map node, as its parent (or the meta slot) records it.
pub fn map_node_checksum(level: u8, node: u64, data: &[u8]) -> u32 {
    let mut tag = [0u8; 12];
    tag[..3].copy_from_slice(b"map");
    tag[3] = level;
    tag[4..].copy_from_slice(&node.to_le_bytes());
    crc32c_append(crc32c::crc32c(&tag), data)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// x^n mod P for the Castagnoli polynomial, bit-reflected and shifted
    /// left by one: the form of the folding constants.
    fn fold_constant(n: u32) -> i64 {
        let mut remainder: u64 = 1;
        for _ in 0..n {
            remainder <<= 1;
            if remainder & (1 << 32) != 0 {
                remainder ^= 0x1_1EDC_6F41;
            }
        }
        i64::from((remainder as u32).reverse_bits()) << 1
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_folding_constants_are_derived() {
        assert_eq!(
            folding_constants(),
            [
                (fold_constant(512 + 32), fold_constant(512 - 32)),
                (fold_constant(128 + 32), fold_constant(128 - 32)),
                (fold_constant(256 + 32), fold_constant(256 - 32)),
                (fold_constant(1024 + 32), fold_constant(1024 - 32)),
                (fold_constant(2048 + 32), fold_constant(2048 - 32)),
                (fold_constant(4096 + 32), fold_constant(4096 - 32)),
            ]
        );
    }

    #[cfg(target_arch = "x86_64")]
    fn folding_constants() -> [(i64, i64); 6] {
        [
            folding::FOLD_512,
            folding::FOLD_128,
            folding::FOLD_256,
            folding::FOLD_1024,
            folding::FOLD_2048,
            folding::FOLD_4096,
        ]
    }

    /// The folding path on its own, where the processor has it, on every
    /// length up to a few blocks past the shortest it takes (every tail)
    /// and at several alignments.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn folding_matches_the_crc32c_crate_on_every_tail() {
        if folding::method().is_none() {
            return;
        }
        let bytes: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_246_822_519) >> 7) as u8)
            .collect();
        for start in [0, 1, 8, 13] {
            let lengths = folding::WIDE_BYTES_MIN..folding::WIDE_BYTES_MIN + 700;
            let pages = [4095, 4096, 4097, 8192 + 7, 3 * 4096 + 600, 16 * 4096];
            for len in lengths.chain(pages) {
                let data = &bytes[start..start + len];
                let expected = crc32c::crc32c_append(0x5EED, data);
                for method in [FoldingMethod::Fold, FoldingMethod::Split] {
                    // SAFETY: the features were detected above.
                    let found = unsafe { folding::crc32c_append_wide(method, 0x5EED, data) };
                    assert_eq!(found, expected, "{method:?}, start {start}, len {len}");
                }
            }
        }
    }

    /// The method is chosen once and kept: later calls see the first
    /// call's choice, and it exists exactly where the features do.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_folding_method_is_chosen_once_where_the_processor_folds() {
        let first = folding_method();
        assert_eq!(first.is_some(), folding::features_detected());
        for _ in 0..100 {
            assert_eq!(folding_method(), first);
        }
    }

    #[test]
    fn folding_gives_the_checksums_of_the_crc32c_crate() {
        let bytes: Vec<u8> = (0..9000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..17 {
            for len in (0..600).chain([4095, 4096, 4097, 4111, 8192, 8192 + 15]) {
                let data = &bytes[start..start + len];
                for crc in [0, 1, 0xFFFF_FFFF, 0x1234_5678] {
                    assert_eq!(
                        crc32c_append(crc, data),
                        crc32c::crc32c_append(crc, data),
                        "start {start}, len {len}, crc {crc:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn page_checksums_are_the_crc32c_of_id_and_page() {
        let bytes: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        for id in [0, 1, 255, 256, 0x1234_5678_9ABC, u64::MAX] {
            for len in [0, 100, 4096, 8192] {
                let mut message = id.to_le_bytes().to_vec();
                message.extend_from_slice(&bytes[..len]);
                assert_eq!(
                    page_checksum(PageId::new(id), &bytes[..len]),
                    crc32c::crc32c(&message),
                    "id {id}, len {len}"
                );
            }
        }
    }

    #[test]
    fn the_same_bytes_as_another_page_do_not_pass() {
        let data = [7u8; 64];
        assert_ne!(
            page_checksum(PageId::new(1), &data),
            page_checksum(PageId::new(2), &data)
        );
        assert_ne!(
            map_node_checksum(0, 1, &data),
            map_node_checksum(1, 1, &data)
        );
        assert_ne!(
            map_node_checksum(0, 1, &data),
            map_node_checksum(0, 2, &data)
        );
    }
}
