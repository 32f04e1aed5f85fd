//! keel scenario suite.
