//! Button ids parse or are refused; what parses prints back to itself.
#![no_main]

use firmhook::flow::Action;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(action) = Action::parse(text)
    {
        assert_eq!(Action::parse(&action.to_string()), Ok(action));
    }
});
