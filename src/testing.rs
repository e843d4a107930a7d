//! Helpers for the crate's unit tests.

/// One step of Marsaglia's xorshift64: `x` becomes the next value, which is
/// also returned. Tests use it for deterministic "random" input (frame
/// times, log rows) that needs no seeding API and never changes between
/// versions of a library.
pub(crate) fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}
