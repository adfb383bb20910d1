//! Fuzzes both parsers. Oracle: no panic, and anything that parses survives a round trip through
//! the canonical writer unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opendls_wpi::{parse_dls_message, parse_workpoint_message, write_dls_message, write_workpoint_message};

fuzz_target!(|body: &[u8]| {
    if let Ok(message) = parse_workpoint_message(body) {
        let again = parse_workpoint_message(write_workpoint_message(&message).as_bytes());
        assert_eq!(again.as_ref(), Ok(&message));
    }
    if let Ok(message) = parse_dls_message(body) {
        let again = parse_dls_message(write_dls_message(&message).as_bytes());
        assert_eq!(again.as_ref(), Ok(&message));
    }
});
