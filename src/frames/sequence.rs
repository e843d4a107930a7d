//! A trial's frame times in order, µs, stored compactly (deflate + base64).
//!
//! The histogram answers "how slow were the slow frames"; the confidence
//! interval of p99 needs the frames in order (a block bootstrap resamples
//! runs of consecutive frames), so the store keeps both.

use std::io::Read;

use anyhow::{Context, Result, bail};
use base64::Engine;
use flate2::read::DeflateDecoder;
use flate2::{Compress, Compression, FlushCompress, Status};

/// Frame time in whole µs (at least 1), as the histograms record it.
pub fn ns_to_us(frametime_ns: u64) -> u32 {
    u32::try_from((frametime_ns / 1_000).max(1)).unwrap_or(u32::MAX)
}

pub fn encode_us(frames_us: &[u32]) -> Result<String> {
    // All the bytes in one call: flate2 zero-fills its output buffer on
    // every write, and a write per frame was the tuner's largest user-space
    // cost (BENCHMARKS.md "The tuner's own CPU time"). The compressor is
    // kept per thread and reset: a new one allocates and clears its
    // tables, which cost more than compressing a 5-s segment.
    thread_local! {
        static DEFLATE: std::cell::RefCell<Compress> = std::cell::RefCell::new(Compress::new(Compression::default(), false));
    }
    let bytes: Vec<u8> = frames_us.iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
    DEFLATE.with_borrow_mut(|deflate| -> Result<()> {
        deflate.reset();
        // compress_vec fills only the room `out` has: more until the end.
        while deflate.compress_vec(&bytes[deflate.total_in() as usize..], &mut out, FlushCompress::Finish)? != Status::StreamEnd {
            out.reserve(out.capacity().max(64));
        }
        Ok(())
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

pub fn decode_us(text: &str) -> Result<Vec<u32>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).context("frame times are not base64")?;
    let mut raw = Vec::new();
    DeflateDecoder::new(bytes.as_slice()).read_to_end(&mut raw).context("frame times do not inflate")?;
    if raw.len() % 4 != 0 {
        bail!("frame times: {} bytes is not a whole number of u32", raw.len());
    }
    Ok(raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        let frames: Vec<u32> = (0..5000).map(|i| 4000 + (i * 7919 % 3000)).collect();
        let text = encode_us(&frames).unwrap();
        assert!(text.len() < frames.len() * 4, "compressed: {} chars", text.len());
        assert_eq!(decode_us(&text).unwrap(), frames);
        assert_eq!(decode_us(&encode_us(&[]).unwrap()).unwrap(), Vec::<u32>::new());
        assert!(decode_us("not base64!").is_err());
        assert!(decode_us("AAAA").is_err());
        // Data that does not compress (the output outgrows its first
        // room), then small data again from the same reset compressor.
        let mut x = 1u32;
        let noise: Vec<u32> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect();
        assert_eq!(decode_us(&encode_us(&noise).unwrap()).unwrap(), noise);
        assert_eq!(decode_us(&encode_us(&frames[..10]).unwrap()).unwrap(), &frames[..10]);
        assert_eq!(ns_to_us(500), 1);
        assert_eq!(ns_to_us(16_666_667), 16_666);
    }
}
