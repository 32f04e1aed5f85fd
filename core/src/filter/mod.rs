//! Outlier rejection and sample windows (min-delay, median) on fixed-capacity buffers.
