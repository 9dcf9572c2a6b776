//! The webhook body parser takes any bytes without panicking, and its
//! one-pass reading of Meta's shape agrees with the lenient reading.
#![no_main]

use firmhook::whatsapp::inbound;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assert_eq!(
        inbound::parse(data).ok(),
        inbound::parse_lenient(data).ok()
    );
});
