//! Helpers of the integration tests: the binary driver and the shared source test matrix. The
//! fake APIs themselves are the `rollcall-fakes` crate.

pub mod chromium;
pub mod driver;
pub mod matrix;
pub mod openbao;
pub mod pushgateway;
pub mod s3;

pub use driver::*;
