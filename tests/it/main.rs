//! rollcall's integration tests, one binary so the helpers and fakes compile once. Every test
//! drives the real `rollcall` binary (or, for the output tests, the library's output) against
//! the fakes of `rollcall-fakes` on loopback.

mod support;

mod bad_specs;
mod check;
mod cli;
mod continuous;
mod example_spec;
mod faults;
mod launchdarkly;
mod output_faults;
mod s3;
mod schema;
mod secrets;
mod summary;
mod tls;
mod vault;
mod vault_auth;
mod vision_one;
