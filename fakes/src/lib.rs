//! Fake Vault, Trend Vision One and LaunchDarkly APIs on loopback, for rollcall's integration
//! tests, benchmarks and demo, and for anyone who wants to point a spec of their own at them
//! (`cargo run -p rollcall-fakes -- serve`).
//!
//! Each fake is faithful to `docs/reference/<source>.md`: exact paths, headers, status codes,
//! bodies, pagination and rate limits, including the nasty cases. A fake kinder than the real
//! API is a defect. Where the vendor publishes an OpenAPI document (Vault, LaunchDarkly), every
//! request is also checked against it ([`openapi`]); a request the real API would refuse is
//! refused and recorded, and the test that sent it fails.
//!
//! The crate does not depend on rollcall, on purpose: a fake that shared the code's calendar or
//! paging would share its mistakes too.
//!
//! [`chassis`] holds what every fake needs; [`vault`], [`vision_one`] and [`launchdarkly`] each
//! hold one API's behaviour only; [`kubernetes`] is the TokenReview API that Vault's Kubernetes
//! login calls.

pub mod chassis;
pub mod kubernetes;
pub mod launchdarkly;
pub mod openapi;
pub mod vault;
pub mod vision_one;

pub use chassis::{Canned, Log, Seen, Server, TlsIdentity};
