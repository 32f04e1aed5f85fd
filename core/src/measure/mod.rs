//! Raw readings to offset samples: PHC read triples, NTP and PTP exchanges.
