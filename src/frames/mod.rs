//! Frame times → statistics: HDR histograms and the numbers a player reads.

pub mod histogram;
pub mod sequence;
pub mod stats;

pub use histogram::FrameHistogram;

/// Which frames count, everywhere (parsers, histograms, statistics): a
/// frame time above this (10 s) is junk, not a frame.
pub const MAX_FRAME_NS: u64 = 10_000_000_000;
pub use stats::{FrameSeries, FrameStats};
