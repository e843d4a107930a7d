//! Frame times → statistics: HDR histograms and the numbers a player reads.

pub mod histogram;
pub mod sequence;
pub mod stats;

pub use histogram::FrameHistogram;
pub use stats::{FrameSeries, FrameStats};
