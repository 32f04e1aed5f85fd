//! Protocol codecs: zero-copy views over `&[u8]` plus plain `Repr` structs.
