//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body, keyed with
//! the app secret, sent as `sha256=<hex>`.
//!
//! Checked before anything else looks at the body; the comparison is
//! constant-time (`Mac::verify_slice`). The secret never appears in `Debug`
//! or logs. This module does not parse the body.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-hub-signature-256";
const PREFIX: &str = "sha256=";

/// A secret that prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` equals the secret, in time that depends on
    /// neither the secret's contents nor its length: both are hashed under
    /// a fixed key and the digests compared in constant time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let digest = |bytes: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"firmhook secret comparison")
                .expect("HMAC accepts keys of any length");
            mac.update(bytes);
            mac
        };
        let expected = digest(self.0.as_bytes()).finalize().into_bytes();
        digest(candidate).verify_slice(&expected).is_ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing signature header")]
    Missing,
    #[error("malformed signature header")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

/// A well-formed signature header, not yet checked against a body: the
/// server reads it before the body, so a request without one is refused
/// without reading (or holding) a byte of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 32]);

impl Signature {
    /// Reads the header's value, if any.
    pub fn parse(header: Option<&[u8]>) -> Result<Self, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex = header
            .strip_prefix(PREFIX.as_bytes())
            .ok_or(SignatureError::Malformed)?;
        decode_hex(hex).map(Self).ok_or(SignatureError::Malformed)
    }

    /// Checks the signature against `body`, in constant time.
    pub fn verify(&self, secret: &Secret, body: &[u8]) -> Result<(), SignatureError> {
        let mut mac = mac(secret);
        mac.update(body);
        mac.verify_slice(&self.0)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Checks `header` (the header's value, if any) against `body`.
pub fn verify(secret: &Secret, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
    Signature::parse(header)?.verify(secret, body)
}

/// The header value for `body`, as Meta would send it.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(PREFIX.len() + 64);
    out.push_str(PREFIX);
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn mac(secret: &Secret) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Exactly 64 hex digits (either case) → 32 bytes.
fn decode_hex(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_body_verifies_and_every_bad_header_is_refused() {
        let secret = Secret::new("dev-secret");
        // Meta escapes non-ASCII and slashes; the signature covers those bytes.
        let body = br#"{"text":"caf\u00e9 \/ ok"}"#;
        let header = sign(&secret, body);
        assert_eq!(verify(&secret, Some(header.as_bytes()), body), Ok(()));
        assert_eq!(
            verify(
                &secret,
                Some(header.to_uppercase().replace("SHA256", "sha256").as_bytes()),
                body
            ),
            Ok(())
        );

        let unescaped = "{\"text\":\"café / ok\"}".as_bytes();
        assert_eq!(
            verify(&secret, Some(header.as_bytes()), unescaped),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(&secret, None, body), Err(SignatureError::Missing));
        let other = sign(&Secret::new("other"), body);
        assert_eq!(
            verify(&secret, Some(other.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
        for bad in [
            "",
            "sha256=",
            "sha1=abcd",
            "sha256=zz",
            &header[7..],
            &header[..70],
            &format!("{header}00"),
        ] {
            assert_eq!(
                verify(&secret, Some(bad.as_bytes()), body),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secrets_match_only_themselves() {
        let secret = Secret::new("dev-verify");
        assert!(secret.matches(b"dev-verify"));
        for other in ["", "dev-verif", "dev-verifyy", "DEV-VERIFY"] {
            assert!(!secret.matches(other.as_bytes()), "{other:?}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "[redacted]");
    }
}
