//! keel's scenario suite: the runner that drives servos against the simulated
//! clock world (`keel_core::sim`), the reference baselines (linuxptp's PI and
//! linreg), the Kalman floor, and the markdown report.

pub mod baseline;
pub mod core_servo;
pub mod engine_driver;
pub mod floor;
pub mod interop;
pub mod ntp_report;
pub mod pps_report;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod skip;
pub mod stats;
