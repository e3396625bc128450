//! The Huffman code of RFC 7541 Appendix B.
//!
//! Decoding reads a 64-bit window. One lookup of its next `SHORT_BITS` bits resolves a code of
//! up to that length (all of the common header characters), or two codes that fit together;
//! longer codes use the code's canonical form, a compare per length. The tables are built at
//! compile time from `CODES`.

use bytes::BytesMut;

use super::DecodeError;

/// `(code, bit length)` of each symbol; index 256 is EOS. Appendix B data.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    (0x3fffffff, 30),
];

const EOS: u16 = 256;
const MAX_CODE_LEN: usize = 30;

/// Window width of the lookup table: it covers every code up to 12 bits (letters, digits and
/// the punctuation of URLs and dates) and most pairs of letters, at 16 KiB. (11 bits measured
/// a fifth slower on header text.)
const SHORT_BITS: u32 = 12;
const SHORT_SIZE: usize = 1 << SHORT_BITS;

/// What a `SHORT_BITS`-bit window starts with: bits 0-7 the first symbol, 8-15 the second,
/// 16-19 the first code's length, 20-23 both codes' length, 24-25 how many symbols resolved
/// (0: the first code is longer than the window).
static SHORT: [u32; SHORT_SIZE] = build_pairs();

/// Canonical decoding of the longer codes: per length, the first code and the exclusive upper
/// bound of a 32-bit left-aligned window, and where that length's symbols start in `symbols`.
struct Canonical {
    limit: [u64; MAX_CODE_LEN + 1],
    first: [u32; MAX_CODE_LEN + 1],
    offset: [u16; MAX_CODE_LEN + 1],
    symbols: [u16; 257],
}

static CANONICAL: Canonical = build_canonical();

// Runs only in a static's initializer: an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
const fn build_canonical() -> Canonical {
    let mut count = [0u16; MAX_CODE_LEN + 1];
    let mut s = 0;
    while s < CODES.len() {
        count[CODES[s].1 as usize] += 1;
        s += 1;
    }
    let mut limit = [0u64; MAX_CODE_LEN + 1];
    let mut first = [0u32; MAX_CODE_LEN + 1];
    let mut offset = [0u16; MAX_CODE_LEN + 1];
    let mut next_code = 0u32;
    let mut next_offset = 0u16;
    let mut len = 1;
    while len <= MAX_CODE_LEN {
        first[len] = next_code;
        offset[len] = next_offset;
        let end = next_code + count[len] as u32;
        limit[len] = (end as u64) << (32 - len);
        next_offset += count[len];
        next_code = end << 1;
        len += 1;
    }
    // Lay the symbols out in code order, and prove at compile time that the table really is
    // canonical (consecutive codes per length, in symbol order), which decoding relies on.
    let mut symbols = [0u16; 257];
    let mut filled = [0u16; MAX_CODE_LEN + 1];
    let mut s = 0;
    while s < CODES.len() {
        let (code, len) = CODES[s];
        let len = len as usize;
        assert!(
            code == first[len] + filled[len] as u32,
            "Huffman table is not canonical"
        );
        symbols[(offset[len] + filled[len]) as usize] = s as u16;
        filled[len] += 1;
        s += 1;
    }
    Canonical {
        limit,
        first,
        offset,
        symbols,
    }
}

/// `(bit length << 9) | symbol` for each window that starts with a code of at most
/// `SHORT_BITS` bits; 0 where the code is longer (no code has length 0).
// Runs only in a static's initializer: an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
const fn build_single() -> [u16; SHORT_SIZE] {
    let mut table = [0u16; SHORT_SIZE];
    let mut s = 0;
    while s < CODES.len() {
        let (code, len) = CODES[s];
        let len = len as u32;
        if len <= SHORT_BITS {
            let spare = SHORT_BITS - len;
            let base = (code << spare) as usize;
            let mut tail = 0;
            while tail < (1usize << spare) {
                table[base | tail] = ((len as u16) << 9) | s as u16;
                tail += 1;
            }
        }
        s += 1;
    }
    table
}

// Runs only in a static's initializer: an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
const fn build_pairs() -> [u32; SHORT_SIZE] {
    let single = build_single();
    let mut table = [0u32; SHORT_SIZE];
    let mut w = 0;
    while w < SHORT_SIZE {
        let first = single[w] as u32;
        if first != 0 {
            let len1 = first >> 9;
            let mut entry = (first & 0xff) | (len1 << 16) | (len1 << 20) | (1 << 24);
            // The rest of the window, zero-filled: a code found there that fits in the bits
            // actually present is the true next code.
            let rest = (w << len1) & (SHORT_SIZE - 1);
            let second = single[rest] as u32;
            if second != 0 && len1 + (second >> 9) <= SHORT_BITS {
                let len = len1 + (second >> 9);
                entry = (first & 0xff)
                    | ((second & 0xff) << 8)
                    | (len1 << 16)
                    | (len << 20)
                    | (2 << 24);
            }
            table[w] = entry;
        }
        w += 1;
    }
    table
}

/// Resolves a code longer than `SHORT_BITS` from the next 32 bits (left-aligned, zero-filled
/// past the end of the input). Returns `(symbol, length)`.
fn decode_long(window: u64) -> Option<(u16, u32)> {
    let c = &CANONICAL;
    for (len, ((&limit, &first), &offset)) in
        (0u32..).zip(c.limit.iter().zip(c.first.iter()).zip(c.offset.iter()))
    {
        if len > SHORT_BITS && window < limit {
            let code = u32::try_from(window >> (32 - len)).ok()?;
            let rank = code.checked_sub(first)?;
            let at = usize::from(offset).checked_add(usize::try_from(rank).ok()?)?;
            return c.symbols.get(at).map(|&sym| (sym, len));
        }
    }
    None
}

/// The most octets that `len` octets of Huffman code can decode to (the shortest code is 5
/// bits).
pub(crate) fn max_decoded_len(len: usize) -> usize {
    len.saturating_mul(8) / 5
}

/// Decodes `src`, appending to `dst`. Fails on EOS in the data, on more than 7 bits of
/// padding, and on padding that is not a prefix of EOS (RFC 7541 §5.2).
pub(crate) fn decode(src: &[u8], dst: &mut BytesMut) -> Result<(), DecodeError> {
    let start = dst.len();
    dst.resize(
        start
            .saturating_add(max_decoded_len(src.len()))
            .saturating_add(1),
        0,
    );
    let result = match dst.get_mut(start..) {
        Some(out) => decode_into(src, out),
        None => Ok(0),
    };
    dst.truncate(start.saturating_add(*result.as_ref().unwrap_or(&0)));
    result.map(drop)
}

/// Decodes into `out`, which must hold `max_decoded_len(src.len()) + 1` octets: every lookup
/// stores two, and the next one overwrites the second where only one was decoded. Returns the
/// count.
fn decode_into(src: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
    let mut pos = 0usize;
    let mut written = 0usize;
    // Bits not yet decoded, left-aligned; `bits` of them are valid, and any below them are
    // the input's next bits or zero.
    let mut window = 0u64;
    let mut bits = 0u32;
    loop {
        if bits <= MAX_CODE_LEN as u32 {
            match src.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
                Some(chunk) => {
                    // The octet that only partly fits is ORed in again, unchanged, next time.
                    window |= u64::from_be_bytes(*chunk) >> bits;
                    let whole = (63 - bits) / 8;
                    pos += whole as usize;
                    bits += whole * 8;
                }
                None => {
                    while let (true, Some(&byte)) = (bits <= 56, src.get(pos)) {
                        window |= u64::from(byte) << (56 - bits);
                        bits += 8;
                        pos += 1;
                    }
                    if bits == 0 {
                        return Ok(written);
                    }
                }
            }
        }
        let entry = SHORT
            .get(usize::try_from(window >> (64 - SHORT_BITS)).unwrap_or(0))
            .copied()
            .unwrap_or(0);
        let resolved = entry >> 24;
        let len = (entry >> 20) & 0xf;
        if resolved != 0 && len <= bits {
            let pair = written
                .checked_add(2)
                .and_then(|end| out.get_mut(written..end))
                .ok_or(DecodeError("Huffman output overflow"))?;
            if let [first, second] = pair {
                *first = entry as u8;
                *second = (entry >> 8) as u8;
            }
            written += resolved as usize;
            window <<= len;
            bits -= len;
            continue;
        }
        // Rare: a long code, or the end of the input.
        let (sym, len) = if resolved != 0 {
            ((entry & 0xff) as u16, (entry >> 16) & 0xf)
        } else {
            decode_long(window >> 32).ok_or(DecodeError("invalid Huffman code"))?
        };
        if len > bits {
            // The input ran out inside a code: what is left must be padding.
            return if bits <= 7 && window >> (64 - bits) == (1u64 << bits) - 1 {
                Ok(written)
            } else if bits <= 7 {
                Err(DecodeError("Huffman padding is not the EOS prefix"))
            } else {
                Err(DecodeError("Huffman padding longer than 7 bits"))
            };
        }
        if sym == EOS {
            return Err(DecodeError("Huffman EOS symbol in a string"));
        }
        let slot = out
            .get_mut(written)
            .ok_or(DecodeError("Huffman output overflow"))?;
        *slot = u8::try_from(sym).map_err(|_| DecodeError("invalid Huffman symbol"))?;
        written += 1;
        window <<= len;
        bits -= len;
    }
}

/// The length in octets of `src` once encoded.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(code_of(b).1)).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src`, padded with the most significant bits of EOS.
pub(crate) fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    // Up to 7 pending bits plus a 30-bit code fit; higher bits are already written out.
    let mut acc = 0u64;
    let mut bits = 0u32;
    for &b in src {
        let (code, len) = code_of(b);
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        dst.push(((acc << (8 - bits)) | (0xff >> bits)) as u8);
    }
}

fn code_of(b: u8) -> (u32, u8) {
    CODES.get(usize::from(b)).copied().unwrap_or((0, 0))
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
