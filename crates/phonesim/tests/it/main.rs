//! Conformance suite: each flow of the guide, run by simulated phones (real TLS and HTTP) against
//! a real opendls server on loopback. One module per guide chapter, one test per section, named
//! after it. Scenarios whose server side does not exist yet are `#[ignore]`d with the issue that
//! brings it.

mod scripted;
mod support;

mod robustness;
mod s3_5_phone_driven;
mod s3_6_service_driven;
mod s3_7_fragmentation_and_busy;
mod simulator_features;
