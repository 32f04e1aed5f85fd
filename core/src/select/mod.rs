//! Combining sources: clock filters, interval intersection, BMCA comparison.
