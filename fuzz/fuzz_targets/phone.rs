//! Phones parse or are refused; a canonical phone reads back as itself.
#![no_main]

use firmhook::domain::{Country, Phone};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let region = Country::parse(["GB", "US", "BR", "MX", "AR", "DE", "IN"][data.len() % 7]).ok();
    for phone in [Phone::parse(text, region).map(|p| p.phone), Phone::from_wa_id(text)].into_iter().flatten() {
        assert_eq!(Phone::parse_international(&phone.to_string()), Ok(phone));
    }
});
