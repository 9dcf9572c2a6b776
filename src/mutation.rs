//! Rules broken on purpose, to show that a property test catches them.
//!
//! Built only with the `mutations` feature, which no release build has:
//! `FIRMHOOK_MUTATE=<name> cargo test --features mutations …` breaks the
//! rule called `<name>` (several: comma-separated). Without the feature,
//! [`on`] is a constant `false` and every mutation compiles away.
//! docs/testing.md lists each mutation and the test that catches it.

/// Whether the mutation `name` is switched on.
#[cfg(feature = "mutations")]
pub fn on(name: &str) -> bool {
    std::env::var("FIRMHOOK_MUTATE").is_ok_and(|list| list.split(',').any(|m| m.trim() == name))
}

/// Whether the mutation `name` is switched on: never, in this build.
#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub fn on(_name: &str) -> bool {
    false
}
