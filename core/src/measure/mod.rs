//! Raw readings to offset samples: PHC read triples, NTP and PTP exchanges.
pub mod ntp;
pub mod phc;
pub mod ptp;
