//! Placeholder: webhook signatures (Tink ECDSA P-256).
