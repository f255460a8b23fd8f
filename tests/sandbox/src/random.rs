//! Random values the sandboxes hand out as tokens, codes and ids: hex, base64url and UUIDs.
//!
//! Invariants: every value comes from the thread's cryptographically secure generator, so
//! codes and tokens cannot be guessed from earlier ones; nothing here is deterministic (the
//! synthetic data's values come from [`crate::synthetic::Seed`] instead).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;

fn bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// `n` random bytes as lowercase hex (`2n` characters).
pub(crate) fn hex(n: usize) -> String {
    bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes as base64url without padding.
pub(crate) fn base64url(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(bytes(n))
}

/// A random (version 4) UUID, lowercase and hyphenated.
pub(crate) fn uuid_v4() -> String {
    let mut b = bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
