//! The fast path of the log parser: rows in the form MangoHud writes, read
//! straight from the bytes (bitmaps of commas and newlines per 64-byte
//! block, SSE2 on x86_64 and SWAR elsewhere; numbers parsed by SWAR). The
//! general path in `super` decides every row this one is not sure of.

use super::*;

// ---------------------------------------------------------------------------
// Fast path: rows in the form MangoHud writes, read straight from the bytes.
//
// A row takes it only when the general path (`LogParser::fields`, which
// parses `str`s) would read the same fields and the same numbers from it:
// the row starts with a digit (else it may be a preamble line), has the
// header's width, no `\r`, and each wanted field is a plain decimal
// (`digits` or `digits.digits`, ≤ 19 digits; elapsed: `digits`). Anything
// else (signs, exponents, spaces, `nan`, bad rows…) goes the general way,
// which decides and words the verdict. Numbers are exact: see `Dec::to_f64`
// and `exact_ns`; tests compare both paths.
// ---------------------------------------------------------------------------

/// A plain decimal: `m` × 10^-`k` (`k` = number of decimals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Dec {
    pub(super) m: u64,
    pub(super) k: usize,
}

/// Powers of ten exactly representable as f64.
pub(super) const POW10: [f64; 23] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

impl Dec {
    /// As f64, bit-identical to `str::parse::<f64>` of its text: with
    /// m ≤ 2^53 and k ≤ 22, m and 10^k are exact f64s, so one IEEE division
    /// is the correctly rounded value, which `parse` returns (this is its
    /// own exact fast path, Clinger's). `None` beyond that.
    pub(super) fn to_f64(self) -> Option<f64> {
        (self.m <= 1 << 53).then_some(())?;
        Some(self.m as f64 / *POW10.get(self.k)?)
    }
}

/// The wanted fields of a plain row, and where its line ends (the index of
/// its `\n`, or the end of the line).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct PlainRow {
    pub(super) fps: Option<Dec>,
    pub(super) ft: Option<Dec>,
    pub(super) elapsed: Option<u64>,
    pub(super) end: usize,
}

impl PlainRow {
    /// The numbers as the general path reads them; `None` when one is
    /// beyond the exact conversion (the general path then decides).
    pub(super) fn fields(&self) -> Option<RowFields> {
        let f = |d: Option<Dec>| d.map(Dec::to_f64).map_or(Some(None), |v| v.map(Some));
        Some((f(self.fps)?, f(self.ft)?, self.elapsed))
    }
}

/// The frame time in whole ns of `ft` in a unit of 10^-`scale` s (ms: 6,
/// µs: 3), when it is one that counts (0 < ns ≤ 10 s) and has at most
/// `scale` decimals; `None` otherwise (then `accept` decides).
///
/// This is exactly what the f64 path gives (`t = parse(text)`,
/// `ns = t × 10^scale`, range check, `round`): the exact value N = m ×
/// 10^(scale−k) is an integer; t and ns are each correctly rounded, so
/// ns = N(1+δ) with |δ| ≤ 2.3e-16, i.e. within 2.3e-6 of N for N ≤ 10^10:
/// it rounds to N, it is > 0 iff N > 0, and it is ≤ 10^10 iff N ≤ 10^10
/// (N = 10^10 is 10 s, 10^4 ms or 10^7 µs: t is exact, and so is ns).
/// Larger N stay > 10^10 (|δ|·N < N − 10^10), and are left to `accept`.
pub(super) fn exact_ns(ft: Dec, scale: usize) -> Option<u64> {
    const POW: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
    let ns = ft.m.checked_mul(*POW.get(scale.checked_sub(ft.k)?)?)?;
    (1..=MAX_FRAME_NS).contains(&ns).then_some(ns)
}

/// The fields of a row without its newline, read straight from the bytes
/// when they are plain decimals; `None` otherwise.
pub(super) fn fast_fields(line: &[u8], cols: &Columns) -> Option<RowFields> {
    let last = cols.count.checked_sub(1)?;
    let wanted = [cols.fps, cols.frametime, cols.elapsed];
    let row = scan_fields(line, wanted, walked_fields(&wanted, last), last)?;
    if row.end != line.len() {
        return None;
    }
    row.fields()
}

/// How many fields are walked to from the front: up to the last wanted one
/// before the last column (MangoHud puts fps and frametime first); the last
/// column is found from its end.
pub(super) fn walked_fields(wanted: &[Option<usize>; 3], last: usize) -> usize {
    wanted.iter().flatten().filter(|&&i| i < last).map(|&i| i + 1).max().unwrap_or(0)
}

/// The plain row at `chunk[at..]`, ended by a `\n`, found from the bitmaps
/// of `chunk` (rows up to 127 bytes; longer ones byte by byte). Without
/// `need_fps`, fps is checked but not read (`fps: None`).
#[inline(always)]
pub(super) fn plain_row(
    chunk: &[u8],
    at: usize,
    maps: &RowMaps,
    wanted: [Option<usize>; 3],
    walk: usize,
    last: usize,
    need_fps: bool,
) -> Option<PlainRow> {
    if !chunk.get(at)?.is_ascii_digit() {
        return None;
    }
    let (commas, newlines) = maps.windows(at);
    if newlines == 0 {
        // No newline in the next 128 bytes: a long row, or an unfinished one.
        let mut row = scan_fields(chunk.get(at..)?, wanted, walk, last)?;
        row.end += at;
        return (chunk.get(row.end) == Some(&b'\n')).then_some(row);
    }
    let len = newlines.trailing_zeros() as usize; // ≥ 1: the row starts with a digit
    let all = commas & (newlines - 1); // the commas before the newline
    if all.count_ones() as usize != last || chunk.get(at + len - 1) == Some(&b'\r') {
        return None;
    }
    let mut row = PlainRow { fps: None, ft: None, elapsed: None, end: at + len };
    let (mut commas, mut from) = (all, at);
    for col in 0..walk {
        let to = at + commas.trailing_zeros() as usize;
        commas &= commas - 1;
        read_field(&mut row, chunk, wanted, col, from, to, need_fps)?;
        from = to + 1;
    }
    let from = if all == 0 { at } else { at + 128 - all.leading_zeros() as usize };
    read_field(&mut row, chunk, wanted, last, from, at + len, need_fps)?;
    Some(row)
}

/// Field `col` of a row, `s[from..to]`, read into `row` if wanted.
#[inline(always)]
pub(super) fn read_field(
    row: &mut PlainRow,
    s: &[u8],
    [fps, ft, elapsed]: [Option<usize>; 3],
    col: usize,
    from: usize,
    to: usize,
    need_fps: bool,
) -> Option<()> {
    if Some(col) == fps {
        if need_fps {
            row.fps = Some(decimal(s, from, to)?);
        } else if !is_decimal(s, from, to) {
            return None;
        }
    } else if Some(col) == ft {
        row.ft = Some(decimal(s, from, to)?);
    } else if Some(col) == elapsed {
        row.elapsed = Some(integer(s, from, to)?);
    }
    Some(())
}

/// `plain_row` for the layout MangoHud writes (fps first, frametime
/// second, elapsed last, `last + 1` ≥ 3 columns) when the frame time is a
/// whole number of ns in its unit (`exact_ns`): the frame time, elapsed and
/// where the line ends; `None` for any other row (then `plain_row` and
/// `accept` decide).
#[inline(always)]
pub(super) fn usual_row(chunk: &[u8], at: usize, maps: &RowMaps, last: usize, scale: usize) -> Option<(u64, u64, usize)> {
    if !chunk.get(at)?.is_ascii_digit() {
        return None;
    }
    let (commas, newlines) = maps.windows(at);
    if newlines == 0 {
        return None;
    }
    let len = newlines.trailing_zeros() as usize;
    let all = commas & (newlines - 1); // the commas before the newline
    if all.count_ones() as usize != last {
        return None;
    }
    let fps_end = at + all.trailing_zeros() as usize;
    let ft_end = at + (all & (all - 1)).trailing_zeros() as usize;
    let elapsed_at = at + 128 - all.leading_zeros() as usize;
    let end = at + len;
    // A '\r' before the newline is not a digit: elapsed is not plain then.
    if !is_decimal(chunk, at, fps_end) {
        return None;
    }
    let ns = exact_ns(decimal(chunk, fps_end + 1, ft_end)?, scale)?;
    Some((ns, integer(chunk, elapsed_at, end)?, end))
}

/// The wanted fields of the row at the start of `s`, up to its first `\n`
/// (or the end of `s`), byte by byte; `None` unless it is a plain row.
pub(super) fn scan_fields(s: &[u8], wanted: [Option<usize>; 3], walk: usize, last: usize) -> Option<PlainRow> {
    if !s.first()?.is_ascii_digit() {
        return None;
    }
    let [fps_col, ft_col, elapsed_col] = wanted;
    let mut row = PlainRow { fps: None, ft: None, elapsed: None, end: 0 };
    let mut pos = 0;
    for i in 0..walk {
        if Some(i) == fps_col {
            let (v, end) = decimal_at(s, pos)?;
            (row.fps, pos) = (Some(v), end);
        } else if Some(i) == ft_col {
            let (v, end) = decimal_at(s, pos)?;
            (row.ft, pos) = (Some(v), end);
        } else if Some(i) == elapsed_col {
            let (v, end) = decimal_at(s, pos)?;
            (row.elapsed, pos) = (Some(v.m).filter(|_| v.k == 0), end);
            row.elapsed?;
        } else {
            pos += s.get(pos..)?.iter().position(|&b| b == b',' || b == b'\n')?;
        }
        if s.get(pos) != Some(&b',') {
            return None;
        }
        pos += 1;
    }
    let rest = s.get(pos..)?;
    let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let rest = &rest[..len];
    if walk + memchr::memchr_iter(b',', rest).count() != last || rest.last() == Some(&b'\r') {
        return None;
    }
    row.end = pos + len;
    let from = memchr::memrchr(b',', rest).map_or(pos, |c| pos + c + 1);
    if Some(last) == fps_col {
        row.fps = Some(decimal(s, from, row.end)?);
    } else if Some(last) == ft_col {
        row.ft = Some(decimal(s, from, row.end)?);
    } else if Some(last) == elapsed_col {
        row.elapsed = Some(integer(s, from, row.end)?);
    }
    Some(row)
}

/// Bit i of entry j: is byte 64j + i of the chunk a comma / a newline.
#[derive(Debug, Default)]
pub(super) struct RowMaps {
    /// (commas, newlines) per 64 bytes, and two empty entries after.
    pub(super) bits: Vec<[u64; 2]>,
}

impl RowMaps {
    pub(super) fn build(&mut self, chunk: &[u8]) {
        self.bits.clear();
        let mut blocks = chunk.chunks_exact(64);
        for block in &mut blocks {
            self.bits.push(block_maps(block.try_into().unwrap_or(&[0; 64])));
        }
        let mut tail = [0u8; 64];
        tail[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
        self.bits.push(block_maps(&tail));
        self.bits.extend([[0; 2]; 2]);
    }

    /// 128 bits of the comma and of the newline maps from bit `at` (zeros
    /// past the end).
    #[inline(always)]
    pub(super) fn windows(&self, at: usize) -> (u128, u128) {
        let (w, shift) = (at / 64, (at % 64) as u32);
        let Some(&[[c0, n0], [c1, n1], [c2, n2]]) = self.bits.get(w..).and_then(|b| b.first_chunk::<3>()) else {
            return (0, 0);
        };
        // (c2 << 1) << (127 − shift): no shift by 128 when `shift` is 0.
        let join = |a: u64, b: u64, c: u64| ((u128::from(a) | u128::from(b) << 64) >> shift) | (u128::from(c) << 1 << (127 - shift));
        (join(c0, c1, c2), join(n0, n1, n2))
    }
}

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;

/// 0x80 in each byte of `x` that is zero, exactly (no false positives: the
/// masked add cannot carry across bytes).
#[inline(always)]
pub(super) fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7) + LO7) | x | LO7)
}

/// Commas and newlines among 64 bytes, as bits (bit i: byte i).
#[inline(always)]
pub(super) fn block_maps(block: &[u8; 64]) -> [u64; 2] {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `block_maps_sse2` only needs SSE2, which every x86-64 CPU has
    // (it is part of the x86-64 baseline, as the std docs say; rustc's own
    // x86_64 targets enable it). It reads nothing but its argument.
    return unsafe { block_maps_sse2(block) };
    #[cfg(not(target_arch = "x86_64"))]
    return block_maps_swar(block);
}

/// `block_maps` with SSE2: 16 compares at once, `pmovmskb` for the bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
pub(super) fn block_maps_sse2(block: &[u8; 64]) -> [u64; 2] {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
    let comma = _mm_set1_epi8(b',' as i8);
    let newline = _mm_set1_epi8(b'\n' as i8);
    let (mut commas, mut newlines) = (0u64, 0u64);
    for (k, bytes) in block.chunks_exact(16).enumerate() {
        let half = |at: usize| i64::from_le_bytes(bytes.get(at..at + 8).and_then(|h| h.try_into().ok()).unwrap_or([0; 8]));
        let v = _mm_set_epi64x(half(8), half(0)); // one unaligned load
        commas |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u16) << (16 * k);
        newlines |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u16) << (16 * k);
    }
    [commas, newlines]
}

/// `block_maps` in plain Rust, eight bytes at a time (SWAR): a byte's mark
/// moved to bit 8j, then the multiply gathers bit 8j of each byte j into
/// bit 56 + j (the partial products do not overlap, so nothing carries).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))] // the reference in tests
pub(super) fn block_maps_swar(block: &[u8; 64]) -> [u64; 2] {
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let (mut commas, mut newlines) = (0u64, 0u64);
    for (j, bytes) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        let bits = |needle: u8| ((zero_bytes(w ^ (ONES * u64::from(needle))) >> 7).wrapping_mul(GATHER) >> 56) << (8 * j);
        commas |= bits(b',');
        newlines |= bits(b'\n');
    }
    [commas, newlines]
}

/// The plain decimal that is all of `s[from..to]`.
#[inline(always)]
pub(super) fn decimal(s: &[u8], from: usize, to: usize) -> Option<Dec> {
    let len = to.checked_sub(from)?;
    match s.get(from..).and_then(|r| r.first_chunk::<8>()) {
        Some(word) if (1..=8).contains(&len) => decimal8(u64::from_le_bytes(*word), len),
        _ => decimal_at(s.get(..to)?, from).and_then(|(d, end)| (end == to).then_some(d)),
    }
}

/// The plain integer (digits only) that is all of `s[from..to]`.
#[inline(always)]
pub(super) fn integer(s: &[u8], from: usize, to: usize) -> Option<u64> {
    let len = to.checked_sub(from)?;
    match s.get(from..).and_then(|r| r.first_chunk::<16>()) {
        Some(bytes) if (1..=16).contains(&len) => {
            let (head, tail) = bytes.split_at(8);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            digits16(word(head), word(tail), len)
        }
        _ => decimal(s, from, to).and_then(|d| (d.k == 0).then_some(d.m)),
    }
}

/// Eight digit values (0..=9), the first (most significant) in the lowest
/// byte, as a number: pairs, then quads, then all eight (SWAR).
#[inline(always)]
pub(super) fn eight_digits(x: u64) -> u64 {
    let x = (x.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    x.wrapping_mul(10000 << 32 | 1) >> 32
}

/// The plain decimal in the low `len` (1..=8) bytes of `x` (eight bytes
/// read from the text; the bytes past the field are ignored).
#[inline(always)]
pub(super) fn decimal8(x: u64, len: usize) -> Option<Dec> {
    let (digits, k) = decimal8_digits(x, len)?;
    Some(Dec { m: eight_digits(digits), k })
}

/// `decimal8` up to the digit values: those (first in the lowest byte,
/// moved up so that eight_digits reads them, zeros below) and the number
/// of decimals. Enough to tell a plain decimal.
#[inline(always)]
pub(super) fn decimal8_digits(x: u64, len: usize) -> Option<(u64, usize)> {
    let field = u64::MAX.checked_shr(64 - 8 * u32::try_from(len).ok()?)?;
    let t = (x ^ (ONES * u64::from(b'0'))) & field; // a digit → its value
    // 0x80 in each byte of the field that is not 0..=9 (exact, no carries).
    let not_digit = (((t & LO7) + ONES * (0x80 - 10)) | t) & HIGH & field;
    if not_digit == 0 {
        return Some((t << (64 - 8 * len), 0));
    }
    // Else exactly one non-digit: a '.' with digits on both sides.
    let dot = not_digit.trailing_zeros() as usize / 8;
    if not_digit & (not_digit - 1) != 0 || dot == 0 || dot + 1 == len || (x >> (8 * dot)) as u8 != b'.' {
        return None;
    }
    let below = (1u64 << (8 * dot)) - 1;
    let digits = (t & below) | ((t >> 8) & !below); // the '.' taken out
    Some((digits << (64 - 8 * (len - 1)), len - 1 - dot))
}

/// Whether `s[from..to]` is a plain decimal, without its value.
#[inline(always)]
pub(super) fn is_decimal(s: &[u8], from: usize, to: usize) -> bool {
    let len = to.wrapping_sub(from);
    match s.get(from..).and_then(|r| r.first_chunk::<8>()) {
        Some(word) if (1..=8).contains(&len) => decimal8_digits(u64::from_le_bytes(*word), len).is_some(),
        _ => decimal(s, from, to).is_some(),
    }
}

/// The plain integer in the low `len` (1..=16) bytes of `head`, `tail`
/// (sixteen bytes read from the text; the bytes past the field are ignored).
#[inline(always)]
pub(super) fn digits16(head: u64, tail: u64, len: usize) -> Option<u64> {
    const POW10_U64: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];
    // 0x80 in each byte of `t` that is not 0..=9 (exact, no carries).
    let not_digit = |t: u64| ((t & LO7) + ONES * (0x80 - 10)) | t;
    if len <= 8 {
        return match decimal8_digits(head, len)? {
            (digits, 0) => Some(eight_digits(digits)),
            _ => None,
        };
    }
    let rest = len - 8; // 1..=8 digits in `tail`
    let head = head ^ (ONES * u64::from(b'0'));
    let tail = (tail ^ (ONES * u64::from(b'0'))) << (64 - 8 * rest); // zeros below
    if (not_digit(head) | not_digit(tail)) & HIGH != 0 {
        return None;
    }
    Some(eight_digits(head) * POW10_U64.get(rest)? + eight_digits(tail))
}

/// A plain decimal at `s[at..]`: `digits` or `digits.digits`, at most 19
/// digits in all, byte by byte; and where it ends (the caller checks what
/// follows).
#[inline(never)]
pub(super) fn decimal_at(s: &[u8], at: usize) -> Option<(Dec, usize)> {
    let mut m = 0u64;
    let mut digits = |from: usize| {
        let run = s.get(from..).map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
        for &b in &s[from..from + run] {
            m = m.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        }
        run
    };
    let int = digits(at);
    if int == 0 {
        return None;
    }
    let mut end = at + int;
    let mut frac = 0;
    if s.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if frac == 0 {
            return None; // `5.`: std reads it; leave it to the general path
        }
        end += 1 + frac;
    }
    // ≤ 19 digits: m < 10^19 < 2^64, so the wrapping ops above never wrapped.
    (int + frac <= 19).then_some((Dec { m, k: frac }, end))
}
