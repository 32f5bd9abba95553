//! The shared source test matrix: every source kind runs the same cases against its fake,
//! through the real binary. A kind joins by implementing [`MatrixSource`] for its fake.

use super::{Workspace, csv_rows, vars};
use std::future::Future;

/// The cases every source must get right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Data on one page.
    Happy,
    /// Data spread over several pages (or months, or windows).
    Paginated,
    /// The first request is answered 429, then the API recovers.
    RateLimitedOnce,
    /// The credential is refused (401/403).
    Unauthorized,
    /// A body that is not what the API documents.
    Malformed,
    /// Nothing to report.
    Empty,
}

/// A fake set up for one case, and how to point rollcall at it.
pub trait MatrixSource: Sized {
    /// Name of the source in the spec; the main report is `{NAME}.csv`.
    const NAME: &'static str;
    /// The secret, which must appear in no output.
    const SECRET: &'static str;
    /// The variable the binary reads the secret from.
    const SECRET_VARIABLE: &'static str;
    /// The tests' "now", given to the binary as `ROLLCALL_NOW`.
    const NOW: &'static str;
    /// Starts the fake with data and behaviour for `case`.
    fn start(case: Case) -> impl Future<Output = Self>;
    /// The `sources:` list item (YAML, indented by two spaces, ending in a newline).
    fn source_item(&self) -> String;
    /// Rows the main report must have for this case.
    fn expected_rows(&self) -> usize;
    /// Status codes the fake answered, in order.
    fn statuses(&self) -> Vec<u16>;

    /// Environment for the binary: the secret and `ROLLCALL_NOW`.
    fn env(&self) -> Vec<(String, String)> {
        vars(&[
            (Self::SECRET_VARIABLE, Self::SECRET),
            ("ROLLCALL_NOW", Self::NOW),
        ])
    }
    /// Requests that returned data (pages, months...): every fake answers data with a 200.
    fn data_requests(&self) -> usize {
        self.statuses().iter().filter(|s| **s == 200).count()
    }
}

/// Runs one case end to end and checks what every source must do.
pub async fn check<S: MatrixSource>(case: Case) {
    let fake = S::start(case).await;
    let ws = Workspace::new();
    let spec = ws.spec(&[fake.source_item()]);
    let ran = ws.rollcall("run", &spec, &fake.env()).await;
    let context = format!(
        "case {case:?}: {ran:#?}\nobjects: {:#?}",
        ws.objects().keys()
    );
    assert!(
        !ran.all_output().contains(S::SECRET),
        "the secret leaked: {context}"
    );
    let manifest = ws
        .manifest()
        .unwrap_or_else(|| panic!("no manifest: {context}"));
    let source = &manifest["sources"][0];
    let report = ws.object(&format!("/{}.csv", S::NAME));
    match case {
        Case::Happy | Case::Paginated | Case::RateLimitedOnce | Case::Empty => {
            assert_eq!(ran.code, 0, "{context}");
            assert_eq!(manifest["status"], "succeeded", "{context}");
            assert_eq!(source["status"], "succeeded", "{context}");
            let text = report.unwrap_or_else(|| panic!("no report: {context}"));
            let rows = csv_rows(&text);
            assert!(
                !rows.is_empty(),
                "a report always has its header: {context}"
            );
            assert_eq!(rows.len() - 1, fake.expected_rows(), "{context}");
            let listed = source["reports"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["name"] == S::NAME))
                .unwrap_or_else(|| panic!("report not in manifest: {context}"));
            assert_eq!(listed["rows"], fake.expected_rows() as u64, "{context}");
            assert_eq!(listed["bytes"], text.len() as u64, "{context}");
            if case == Case::Empty {
                assert_eq!(fake.expected_rows(), 0);
            }
            if case == Case::Paginated {
                assert!(fake.data_requests() > 1, "only one page fetched: {context}");
            }
            if case == Case::RateLimitedOnce {
                let statuses = fake.statuses();
                assert_eq!(statuses.first(), Some(&429), "{context}");
                assert!(
                    statuses[1..].iter().any(|s| (200..300).contains(s)),
                    "{context}"
                );
            }
        }
        Case::Unauthorized => {
            assert_eq!(
                ran.code, 2,
                "a refused credential is a configuration problem: {context}"
            );
            assert_eq!(source["status"], "failed", "{context}");
            assert!(report.is_none(), "no report for a failed source: {context}");
            let error = source["error"].as_str().unwrap_or_default();
            assert!(error.contains("credentials rejected"), "{context}");
            // Every kind names the variable the refused credential came from, in one wording.
            assert!(
                error.contains("_TOKEN (or ") && error.contains("_TOKEN_FILE): "),
                "{context}"
            );
            assert!(!fake.statuses().contains(&200), "{context}");
        }
        Case::Malformed => {
            assert_eq!(ran.code, 1, "the only source failed: {context}");
            assert_eq!(manifest["status"], "failed", "{context}");
            assert_eq!(source["status"], "failed", "{context}");
            assert!(report.is_none(), "no report for a failed source: {context}");
            assert!(
                source["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{context}"
            );
        }
    }
}

/// Declares the six matrix cases as tests for one source's fake:
/// `support::matrix::matrix_tests!(VaultMatrix);`
macro_rules! matrix_tests {
    ($source:ty) => {
        $crate::support::matrix::matrix_tests!(@cases $source;
            happy_path: Happy,
            pagination: Paginated,
            rate_limited_then_success: RateLimitedOnce,
            unauthorized: Unauthorized,
            malformed_body: Malformed,
            empty_result: Empty,
        );
    };
    (@cases $source:ty; $($test:ident: $case:ident,)*) => {
        mod matrix {
            use super::*;
            use $crate::support::matrix::{Case, check};

            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    check::<$source>(Case::$case).await;
                }
            )*
        }
    };
}
pub(crate) use matrix_tests;
