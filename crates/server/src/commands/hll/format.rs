//! Redis 7.0's HyperLogLog string value, byte for byte: a 16-byte
//! header, then 16384 six-bit registers, dense or sparse (`sparse.rs`).
//!
//! The header: `HYLL`, the encoding (0 dense, 1 sparse), three unused
//! bytes, and the cached cardinality, 8 bytes little-endian, whose top
//! bit marks it stale. Dense registers are packed 6 bits each, a
//! register's low bits first (12288 bytes). An element is hashed with
//! MurmurHash64A (Redis's seed): the hash's low 14 bits pick the
//! register, and one more than the run of zero bits above them is the
//! value it offers the register.
//!
//! A string is an HLL when Redis's check passes (header, magic, known
//! encoding, a dense one exactly 12304 bytes); sparse runs that do not
//! cover exactly the 16384 registers are [`HllError::Corrupted`] where
//! Redis finds them so, never a panic.

use super::estimate::{self, Histogram};
use super::sparse::{self, SparseSet};

/// Header bytes.
pub const HEADER_BYTES: usize = 16;
/// Bits of the hash that pick a register.
pub const INDEX_BITS: u32 = 14;
/// Registers.
pub const REGISTERS: usize = 1 << INDEX_BITS;
/// Bits of a dense register.
const REGISTER_BITS: usize = 6;
/// The largest value a dense register holds.
pub const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
/// A dense HLL's length.
pub const DENSE_BYTES: usize = HEADER_BYTES + REGISTERS * REGISTER_BITS / 8;
/// `hll-sparse-max-bytes`'s default: a sparse HLL that would grow past
/// it becomes dense.
pub const SPARSE_BYTES_MAX_DEFAULT: u64 = 3000;

const MAGIC: &[u8; 4] = b"HYLL";
const ENCODING_AT: usize = 4;
const CARDINALITY_AT: usize = 8;
/// The top bit of the cached cardinality: set when stale.
const STALE_BIT: u8 = 0x80;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const HASH_SEED: u64 = 0xadc8_3b19;

/// Redis's reply to a string that is not an HLL.
pub const NOT_AN_HLL_TEXT: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// Redis's reply to an HLL whose registers do not add up.
pub const CORRUPTED_TEXT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Why a string cannot be used as an HLL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// Its header is not an HLL's.
    #[error("{NOT_AN_HLL_TEXT}")]
    NotAnHll,
    /// Its header is, its registers are damaged.
    #[error("{CORRUPTED_TEXT}")]
    Corrupted,
}

/// How the registers are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 6 bits each.
    Dense,
    /// Runs (`sparse.rs`).
    Sparse,
}

impl Encoding {
    /// The name PFDEBUG ENCODING answers.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// An HLL string value whose header passed Redis's check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hll {
    bytes: Vec<u8>,
}

impl Hll {
    /// What PFADD creates: sparse, every register zero, cardinality 0
    /// cached.
    pub fn empty() -> Hll {
        let mut bytes = header(SPARSE);
        bytes.extend_from_slice(&sparse::EMPTY);
        Hll { bytes }
    }

    /// A dense HLL, every register zero.
    pub fn empty_dense() -> Hll {
        let mut bytes = header(DENSE);
        bytes.resize(DENSE_BYTES, 0);
        Hll { bytes }
    }

    /// `value` if its header is an HLL's (Redis's `isHLLObjectOrReply`).
    pub fn parse(value: &[u8]) -> Result<Hll, HllError> {
        check_header(value)?;
        Ok(Hll {
            bytes: value.to_vec(),
        })
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Its encoding.
    pub fn encoding(&self) -> Encoding {
        if self.bytes[ENCODING_AT] == DENSE {
            Encoding::Dense
        } else {
            Encoding::Sparse
        }
    }

    /// The cached cardinality, unless stale.
    pub fn cached_cardinality(&self) -> Option<u64> {
        cached_cardinality(&self.bytes)
    }

    /// Caches `cardinality` (stale if its top bit is set, as in Redis).
    pub fn cache_cardinality(&mut self, cardinality: u64) {
        self.bytes[CARDINALITY_AT..HEADER_BYTES].copy_from_slice(&cardinality.to_le_bytes());
    }

    /// Marks the cached cardinality stale.
    pub fn invalidate_cache(&mut self) {
        self.bytes[HEADER_BYTES - 1] |= STALE_BIT;
    }

    /// Offers `element`: whether a register grew.
    pub fn add(&mut self, element: &[u8], sparse_bytes_max: u64) -> Result<bool, HllError> {
        let (index, value) = register_of(element);
        self.offer(index, value, sparse_bytes_max)
    }

    /// Raises register `index` to `value` if it is lower (a sparse HLL
    /// grown past `sparse_bytes_max`, or offered a value above 32,
    /// becomes dense): whether it grew.
    pub fn offer(
        &mut self,
        index: usize,
        value: u8,
        sparse_bytes_max: u64,
    ) -> Result<bool, HllError> {
        if self.encoding() == Encoding::Dense {
            return Ok(raise_dense(self.registers_mut(), index, value));
        }
        match sparse::offer(&mut self.bytes, index, value, sparse_bytes_max)? {
            SparseSet::Unchanged => Ok(false),
            SparseSet::Raised => {
                self.invalidate_cache();
                Ok(true)
            }
            SparseSet::TooLarge => {
                self.to_dense()?;
                Ok(raise_dense(self.registers_mut(), index, value))
            }
        }
    }

    /// Makes a sparse HLL dense (the header kept, cached cardinality
    /// included): whether it was sparse.
    pub fn to_dense(&mut self) -> Result<bool, HllError> {
        if self.encoding() == Encoding::Dense {
            return Ok(false);
        }
        let mut dense = Hll::empty_dense();
        dense.bytes[..HEADER_BYTES].copy_from_slice(&self.bytes[..HEADER_BYTES]);
        dense.bytes[ENCODING_AT] = DENSE;
        let registers = dense.registers_mut();
        sparse::for_each_run(self.body(), |index, value| {
            set_dense(registers, index, value);
        })?;
        *self = dense;
        Ok(true)
    }

    /// Raises each of `max` to the matching register (PFMERGE, PFCOUNT of
    /// several keys).
    pub fn merge_into(&self, max: &mut [u8; REGISTERS]) -> Result<(), HllError> {
        match self.encoding() {
            Encoding::Dense => {
                for (index, slot) in max.iter_mut().enumerate() {
                    *slot = (*slot).max(get_dense(self.body(), index));
                }
                Ok(())
            }
            Encoding::Sparse => sparse::for_each_run(self.body(), |index, value| {
                max[index] = max[index].max(value);
            }),
        }
    }

    /// Every register.
    pub fn registers(&self) -> Result<Box<[u8; REGISTERS]>, HllError> {
        let mut registers = Box::new([0; REGISTERS]);
        self.merge_into(&mut registers)?;
        Ok(registers)
    }

    /// How many registers hold each value.
    pub fn histogram(&self) -> Result<Histogram, HllError> {
        match self.encoding() {
            Encoding::Dense => {
                let mut histogram = [0; 64];
                for index in 0..REGISTERS {
                    histogram[usize::from(get_dense(self.body(), index))] += 1;
                }
                Ok(histogram)
            }
            Encoding::Sparse => sparse::histogram(self.body()),
        }
    }

    /// The estimated cardinality (not cached).
    pub fn count(&self) -> Result<u64, HllError> {
        Ok(estimate::cardinality(&self.histogram()?))
    }

    /// Whether a sparse HLL's runs end in an XZERO cut off by the end of
    /// the string: they may read whole, yet an update there loses a byte,
    /// as in Redis.
    pub fn ends_in_a_cut_xzero(&self) -> bool {
        self.encoding() == Encoding::Sparse && sparse::ends_in_a_cut_xzero(self.body())
    }

    /// PFDEBUG DECODE's text of a sparse HLL's runs.
    pub fn decode_sparse(&self) -> Option<String> {
        (self.encoding() == Encoding::Sparse).then(|| sparse::decode_text(self.body()))
    }

    fn body(&self) -> &[u8] {
        &self.bytes[HEADER_BYTES..]
    }

    fn registers_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[HEADER_BYTES..]
    }
}

/// Whether `value`'s header is an HLL's: `NotAnHll` if not.
pub fn check_header(value: &[u8]) -> Result<(), HllError> {
    let valid = value.len() >= HEADER_BYTES
        && value.starts_with(MAGIC)
        && match value[ENCODING_AT] {
            DENSE => value.len() == DENSE_BYTES,
            SPARSE => true,
            _ => false,
        };
    if valid {
        Ok(())
    } else {
        Err(HllError::NotAnHll)
    }
}

/// The cached cardinality of `value` (whose header was checked), unless
/// stale: what PFCOUNT answers without copying the value.
pub fn cached_cardinality(value: &[u8]) -> Option<u64> {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&value[CARDINALITY_AT..HEADER_BYTES]);
    (bytes[7] & STALE_BIT == 0).then(|| u64::from_le_bytes(bytes))
}

fn header(encoding: u8) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + 2);
    bytes.extend_from_slice(MAGIC);
    bytes.push(encoding);
    bytes.resize(HEADER_BYTES, 0);
    bytes
}

/// Dense register `index` of `registers` (a register's bits past the end
/// read as zero: only the last one's, and it has none there).
pub fn get_dense(registers: &[u8], index: usize) -> u8 {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let low = u16::from(registers.get(byte).copied().unwrap_or(0));
    let high = u16::from(registers.get(byte + 1).copied().unwrap_or(0));
    // The mask keeps 6 bits: the narrowing is exact.
    ((low >> shift | high << (8 - shift)) & u16::from(REGISTER_MAX)) as u8
}

/// Sets dense register `index` of `registers` to `value` (6 bits
/// kept).
pub fn set_dense(registers: &mut [u8], index: usize, value: u8) {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let value = u16::from(value & REGISTER_MAX) << shift;
    let mask = u16::from(REGISTER_MAX) << shift;
    // The register's bits in its first byte, then (past a byte boundary)
    // in the next: the narrowings keep one byte each, as intended.
    for (offset, part) in [(0, 0), (1, 8)] {
        if let Some(target) = registers.get_mut(byte + offset) {
            *target = (*target & !((mask >> part) as u8)) | (value >> part) as u8;
        }
    }
}

/// Raises dense register `index` to `value` if it is lower: whether it
/// grew.
pub fn raise_dense(registers: &mut [u8], index: usize, value: u8) -> bool {
    if value <= get_dense(registers, index) {
        return false;
    }
    set_dense(registers, index, value);
    true
}

/// The register `element` falls in and the value it offers: one more
/// than the zero bits above the index bits of its hash (at most 51).
pub fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur_hash_64a(element, HASH_SEED);
    // The mask keeps 14 bits.
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> INDEX_BITS) | 1 << (64 - INDEX_BITS);
    // At most 51: a u8.
    (index, (rest.trailing_zeros() + 1) as u8)
}

/// MurmurHash2's 64-bit variant (Austin Appleby's MurmurHash64A), as
/// Redis hashes HLL elements: 8-byte words little-endian.
pub fn murmur_hash_64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis passes the length as a C int.
    let length = key.len() as u64;
    let mut hash = seed ^ length.wrapping_mul(M);
    let (words, tail) = key.as_chunks::<8>();
    for word in words {
        let mut k = u64::from_le_bytes(*word).wrapping_mul(M);
        k ^= k >> R;
        hash = (hash ^ k.wrapping_mul(M)).wrapping_mul(M);
    }
    if !tail.is_empty() {
        let mut last = [0; 8];
        last[..tail.len()].copy_from_slice(tail);
        hash = (hash ^ u64::from_le_bytes(last)).wrapping_mul(M);
    }
    hash ^= hash >> R;
    hash = hash.wrapping_mul(M);
    hash ^ hash >> R
}

#[cfg(test)]
mod tests {
    use super::*;

    /// redis-server 7.0's value after `PFADD k e0 … e299` and `PFCOUNT k`.
    const SPARSE_300: &[u8] = include_bytes!("testdata/sparse-300.hll");
    /// After `PFADD k` of `e0 … e4999` in ten commands of 500, and
    /// `PFCOUNT k`.
    const DENSE_5000: &[u8] = include_bytes!("testdata/dense-5000.hll");

    /// PFADD as Redis runs it.
    fn pfadd(hll: &mut Hll, elements: impl Iterator<Item = String>) -> bool {
        let mut updated = false;
        for element in elements {
            updated |= hll.add(element.as_bytes(), SPARSE_BYTES_MAX_DEFAULT) == Ok(true);
        }
        if updated {
            hll.invalidate_cache();
        }
        updated
    }

    /// PFCOUNT of one key as Redis runs it.
    fn pfcount(hll: &mut Hll) -> u64 {
        if let Some(cached) = hll.cached_cardinality() {
            return cached;
        }
        let count = hll.count().expect("whole");
        hll.cache_cardinality(count);
        count
    }

    #[test]
    fn an_empty_hll_is_redis_s() {
        let empty = Hll::empty();
        assert_eq!(empty.as_bytes(), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(empty.cached_cardinality(), Some(0));
        assert_eq!(empty.count(), Ok(0));
        assert_eq!(empty.encoding(), Encoding::Sparse);
        assert_eq!(Hll::parse(empty.as_bytes()), Ok(empty));
    }

    #[test]
    fn elements_fall_in_the_registers_redis_puts_them_in() {
        // PFDEBUG DECODE of each alone on redis-server 7.0: every length
        // of the hash's last word, and more than one word.
        let cases: [(&[u8], usize, u8); 8] = [
            (b"a", 12711, 2),
            (b"b", 15780, 1),
            (b"c", 8436, 1),
            (b"", 5938, 2),
            (b"hello world", 9399, 4),
            (b"12345678", 10579, 3),
            (b"123456789abcdefg", 8578, 5),
            (&[b'x'; 100], 15288, 1),
        ];
        for (element, index, value) in cases {
            assert_eq!(register_of(element), (index, value), "{element:?}");
        }
    }

    #[test]
    fn the_same_elements_make_redis_s_bytes() {
        let mut sparse = Hll::empty();
        assert!(pfadd(
            &mut sparse,
            (0..300).map(|index| format!("e{index}"))
        ));
        assert_eq!(pfcount(&mut sparse), 302);
        assert_eq!(sparse.as_bytes(), SPARSE_300);
        let mut dense = Hll::empty();
        for batch in 0..10 {
            pfadd(
                &mut dense,
                (batch * 500..(batch + 1) * 500).map(|index| format!("e{index}")),
            );
        }
        assert_eq!(pfcount(&mut dense), 4968);
        assert_eq!(dense.encoding(), Encoding::Dense);
        assert_eq!(dense.as_bytes(), DENSE_5000);
    }

    #[test]
    fn redis_s_values_read_back() {
        let sparse = Hll::parse(SPARSE_300).expect("an HLL");
        assert_eq!(sparse.cached_cardinality(), Some(302));
        assert_eq!(sparse.count(), Ok(302));
        let dense = Hll::parse(DENSE_5000).expect("an HLL");
        assert_eq!(dense.count(), Ok(4968));
        // The same registers either way, and merged.
        let mut converted = sparse.clone();
        assert_eq!(converted.to_dense(), Ok(true));
        assert_eq!(converted.as_bytes().len(), DENSE_BYTES);
        assert_eq!(converted.registers(), sparse.registers());
        assert_eq!(converted.count(), Ok(302));
        let mut max = [0; REGISTERS];
        sparse.merge_into(&mut max).expect("whole");
        dense.merge_into(&mut max).expect("whole");
        // e0 … e299 are among e0 … e4999.
        assert_eq!(max[..], dense.registers().expect("whole")[..]);
    }

    #[test]
    fn headers_redis_refuses_are_not_hlls() {
        let dense_header = &DENSE_5000[..HEADER_BYTES];
        let cases: [&[u8]; 8] = [
            b"",
            b"HYLL",
            &SPARSE_300[..HEADER_BYTES - 1],
            b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff",
            b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff",
            b"HYLL\xff\0\0\0\0\0\0\0\0\0\0\0\x7f\xff",
            dense_header,
            &DENSE_5000[..DENSE_BYTES - 1],
        ];
        for value in cases {
            assert_eq!(Hll::parse(value), Err(HllError::NotAnHll), "{value:?}");
        }
        let mut longer = DENSE_5000.to_vec();
        longer.push(0);
        assert_eq!(Hll::parse(&longer), Err(HllError::NotAnHll));
        // A sparse header alone is an HLL, whose runs are damaged.
        let bare = Hll::parse(&SPARSE_300[..HEADER_BYTES]).expect("a header");
        assert_eq!(bare.count(), Err(HllError::Corrupted));
    }

    #[test]
    fn the_cache_keeps_its_stale_bit() {
        let mut hll = Hll::empty();
        hll.invalidate_cache();
        assert_eq!(hll.cached_cardinality(), None);
        assert_eq!(hll.as_bytes()[HEADER_BYTES - 1], 0x80);
        hll.cache_cardinality(0x0102_0304_0506_0708);
        assert_eq!(&hll.as_bytes()[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(hll.cached_cardinality(), Some(0x0102_0304_0506_0708));
        // A cardinality with the top bit set is cached stale, as Redis's.
        hll.cache_cardinality(1 << 63);
        assert_eq!(hll.cached_cardinality(), None);
    }

    #[test]
    fn dense_registers_keep_their_neighbours() {
        let mut registers = vec![0u8; DENSE_BYTES - HEADER_BYTES];
        for index in 0..REGISTERS {
            set_dense(&mut registers, index, (index % 64) as u8);
        }
        for index in 0..REGISTERS {
            assert_eq!(get_dense(&registers, index), (index % 64) as u8);
        }
        // The last register is the last byte's top six bits.
        set_dense(&mut registers, REGISTERS - 1, REGISTER_MAX);
        assert_eq!(registers[registers.len() - 1] & 0xfc, 0xfc);
        assert_eq!(get_dense(&registers, REGISTERS - 2), 62);
        assert!(!raise_dense(&mut registers, 5, 5));
        assert!(raise_dense(&mut registers, 5, 6));
        assert_eq!(get_dense(&registers, 4), 4);
        assert_eq!(get_dense(&registers, 6), 6);
    }

    #[test]
    fn a_sparse_hll_grows_dense_past_its_limit_or_a_value_above_32() {
        let mut hll = Hll::empty();
        // A register in an XZERO splits it in three: 3 more bytes.
        assert_eq!(hll.offer(100, 1, 21), Ok(true));
        assert_eq!(hll.as_bytes().len(), 21);
        assert_eq!(hll.offer(1000, 1, 21), Ok(true));
        assert_eq!(hll.encoding(), Encoding::Dense);
        assert_eq!(hll.registers().expect("whole")[100], 1);
        assert_eq!(hll.registers().expect("whole")[1000], 1);
        let mut high = Hll::empty();
        assert_eq!(high.offer(7, 33, 3000), Ok(true));
        assert_eq!(high.encoding(), Encoding::Dense);
        assert_eq!(high.registers().expect("whole")[7], 33);
    }

    #[test]
    fn damaged_runs_are_corrupt_for_every_reader() {
        let header = &SPARSE_300[..HEADER_BYTES];
        let runs: [&[u8]; 7] = [
            // None.
            b"",
            // "hello" after whole runs.
            &[0x7f, 0xff, b'h', b'e', b'l', b'l', b'o'],
            // A VAL past the last register.
            &[0x7f, 0xff, 0x80],
            // One register short.
            &[0x7f, 0xfe],
            // 16384 + 3 through a VAL of four.
            &[0x7f, 0xfc, 0x83],
            // An XZERO cut off: 16129 registers.
            &[0x7f],
            // 2^16 XZEROs of 16384: far past the end.
            &[0x7f, 0xff].repeat(1 << 16),
        ];
        for runs in runs {
            let mut value = header.to_vec();
            value.extend_from_slice(runs);
            let hll = Hll::parse(&value).expect("a sparse header");
            assert_eq!(hll.histogram(), Err(HllError::Corrupted));
            assert_eq!(hll.count(), Err(HllError::Corrupted));
            assert_eq!(hll.registers().map(|_| ()), Err(HllError::Corrupted));
            assert_eq!(hll.clone().to_dense(), Err(HllError::Corrupted));
            assert!(hll.decode_sparse().is_some());
        }
    }
}
