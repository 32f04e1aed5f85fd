//! Raw readings to offset samples: PHC read triples, NTP and PTP exchanges,
//! PPS edges labelled from a time of day.
pub mod ntp;
pub mod phc;
pub mod pps;
pub mod ptp;
