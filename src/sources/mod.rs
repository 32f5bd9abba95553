//! Source kinds: the [`SourceKind`] trait every kind implements, the settings every source
//! shares ([`CommonSpec`]), and the one table of kinds.
//!
//! Adding a kind means: a folder here with the same rooms as the others (`mod.rs`, `spec.rs`,
//! `api.rs`, its domain files), one line in the table below, a fake API, and the shared source
//! test matrix run against it.

pub mod check;
pub mod launchdarkly;
pub mod vault;
pub mod vision_one;

mod common;
mod error;

pub use common::CommonSpec;
pub use error::{Refusal, SourceError};

use crate::config::{ConfigError, Environment, KeyPath, Problems};
use crate::http::{HttpClient, HttpSpec};
use crate::output::Output;
use crate::output::ledger::ContinuousWindow;
use crate::report::manifest::Window;
use crate::report::summary::SourceFacts;
use crate::report::{Column, CsvReport, ReportError};
use crate::time::RunClock;
use check::{Check, CheckContext, Checked};
use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What a kind of source is: its `kind` string, its settings, and how they become a source
/// ready to run. Implemented by each kind's spec struct (its own settings, without the shared
/// ones in [`CommonSpec`]).
pub trait SourceKind: DeserializeOwned + JsonSchema + Debug {
    /// The `kind` value in the spec, e.g. `vault_client_activity`.
    const KIND: &'static str;
    /// `token_env` when the spec leaves it out.
    const DEFAULT_TOKEN_ENV: &'static str;
    /// `request_timeout` when the spec leaves it out.
    const DEFAULT_REQUEST_TIMEOUT: Duration;
    /// The reports a source of this kind writes, as suffixes of its name (`""` for
    /// `{name}.csv`, `"-forecast"`...), so that sources whose keys would collide are refused
    /// before the run.
    const REPORT_SUFFIXES: &'static [&'static str];
    /// What the API does with a token pasted with its `Bearer ` prefix.
    const BEARER_PREFIX_CONSEQUENCE: &'static str =
        "rollcall sends the token the way the API expects it, so the API would refuse it";
    /// The source ready to run.
    type Source: Fetch + Check + Debug;

    /// Checks the kind's own settings; the shared ones are checked once for every kind.
    fn validate(&self, common: &CommonSpec, at: &KeyPath, problems: &mut Problems<'_>);

    /// The window and thresholds the reports will use; recorded in the manifest even when the
    /// source fails.
    fn plan(&self, common: &CommonSpec, clock: &RunClock) -> Plan;

    /// Checks that need the run's clock or the environment but no request (a window that
    /// starts in the future); each problem names its key, so it gets a line. The token's
    /// prefix is checked for every kind.
    fn check_before_fetch(
        &self,
        _common: &CommonSpec,
        _at: &KeyPath,
        _now: DateTime<Utc>,
        _problems: &mut Problems<'_>,
    ) {
    }

    /// Resolves secrets, addresses and TLS roots from the environment. Nothing is fetched; a
    /// failure here is a configuration error (exit 2). `logins` is the run's cache of Vault
    /// logins (only Vault sources log in).
    fn prepare(
        &self,
        common: &CommonSpec,
        env: &Environment,
        shared: &HttpClient,
        http: &HttpSpec,
        logins: &vault::Logins,
    ) -> Result<Self::Source, ConfigError>;

    /// How the window follows on from the last successful run, for a kind that chains its
    /// windows (`window: continuous`); `None` when the spec alone gives the window.
    fn continuous_window(&self) -> Option<ContinuousWindow> {
        None
    }
}

/// What a prepared source does when the run starts it.
pub trait Fetch {
    /// Fetches everything and writes the reports. Reports are handed back unfinished: the run
    /// makes them visible only if the whole source succeeded.
    fn fetch(
        &self,
        ctx: &SourceContext,
    ) -> impl Future<Output = Result<SourceOutput, SourceError>> + Send;
}

/// The table of kinds: the one place that lists them. Generates [`KindSpec`] and [`Source`]
/// (one variant per kind), [`KINDS`], and their dispatch to each kind's [`SourceKind`] and
/// [`Fetch`] implementations.
macro_rules! source_kinds {
    ($($variant:ident($spec:ty)),+ $(,)?) => {
        /// The kind-specific settings of one source.
        #[derive(Debug)]
        pub enum KindSpec {
            $($variant($spec)),+
        }

        /// A source ready to run: its settings plus resolved secrets and clients.
        #[derive(Debug)]
        pub enum Source {
            $($variant(<$spec as SourceKind>::Source)),+
        }

        /// Every `kind` value, for messages.
        pub const KINDS: &[&str] = &[$(<$spec as SourceKind>::KIND),+];

        /// The JSON Schema of one `sources[i]` item: exactly one of the kinds, each with the
        /// shared keys and its own, and no other key.
        pub fn item_schema(generator: &mut SchemaGenerator) -> Schema {
            let kinds = vec![$(common::item_schema::<$spec>(generator)),+];
            schemars::json_schema!({
                "type": "object",
                "oneOf": kinds,
            })
        }

        impl KindSpec {
            /// Reads an item of the kind named `kind`; `Err` when no kind has that name.
            fn read(
                kind: &str,
                item: serde_yaml::Mapping,
                at: &KeyPath,
                problems: &mut Problems<'_>,
            ) -> Result<Option<(Self, CommonSpec)>, ()> {
                $(
                    if kind == <$spec as SourceKind>::KIND {
                        return Ok(common::read_item::<$spec>(item, at, problems)
                            .map(|(spec, common)| (Self::$variant(spec), common)));
                    }
                )+
                Err(())
            }

            fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$spec as SourceKind>::KIND),+
                }
            }

            fn validate(&self, common: &CommonSpec, at: &KeyPath, problems: &mut Problems<'_>) {
                match self {
                    $(Self::$variant(spec) => spec.validate(common, at, problems)),+
                }
            }

            fn plan(&self, common: &CommonSpec, clock: &RunClock) -> Plan {
                match self {
                    $(Self::$variant(spec) => spec.plan(common, clock)),+
                }
            }

            fn report_suffixes(&self) -> &'static [&'static str] {
                match self {
                    $(Self::$variant(_) => <$spec as SourceKind>::REPORT_SUFFIXES),+
                }
            }

            fn check_before_fetch(
                &self,
                common: &CommonSpec,
                at: &KeyPath,
                env: &Environment,
                now: DateTime<Utc>,
                problems: &mut Problems<'_>,
            ) {
                match self {
                    $(Self::$variant(spec) => {
                        common.check_token_prefix(
                            at,
                            env,
                            <$spec as SourceKind>::BEARER_PREFIX_CONSEQUENCE,
                            problems,
                        );
                        spec.check_before_fetch(common, at, now, problems);
                    }),+
                }
            }

            fn continuous_window(&self) -> Option<ContinuousWindow> {
                match self {
                    $(Self::$variant(spec) => spec.continuous_window()),+
                }
            }

            fn prepare(
                &self,
                common: &CommonSpec,
                env: &Environment,
                shared: &HttpClient,
                http: &HttpSpec,
                logins: &vault::Logins,
            ) -> Result<Source, ConfigError> {
                match self {
                    $(Self::$variant(spec) => {
                        spec.prepare(common, env, shared, http, logins).map(Source::$variant)
                    }),+
                }
            }
        }

        impl Source {
            /// `rollcall check`: one minimal live call per thing the run needs.
            pub async fn check(&self, ctx: &CheckContext) -> Checked {
                match self {
                    $(Self::$variant(source) => source.check(ctx).await),+
                }
            }

            pub async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
                match self {
                    $(Self::$variant(source) => source.fetch(ctx).await),+
                }
            }
        }
    };
}

source_kinds! {
    Vault(vault::VaultSpec),
    VisionOne(vision_one::VisionOneSpec),
    LaunchDarkly(launchdarkly::LaunchDarklySpec),
}

/// One `sources[i]` item of the spec: the shared settings and the kind's own.
#[derive(Debug)]
pub struct SourceSpec {
    pub common: CommonSpec,
    pub kind: KindSpec,
}

impl SourceSpec {
    /// Reads one `sources[i]` item; records problems (with lines) instead of failing fast.
    pub fn from_yaml(
        value: serde_yaml::Value,
        at: &KeyPath,
        problems: &mut Problems<'_>,
    ) -> Option<Self> {
        let serde_yaml::Value::Mapping(mut item) = value else {
            problems.add(
                at,
                "must be a mapping with `name`, `kind` and the kind's settings",
            );
            return None;
        };
        let kind = match item.remove("kind") {
            Some(serde_yaml::Value::String(kind)) => kind,
            Some(_) => {
                problems.add(&at.key("kind"), "must be a string");
                return None;
            }
            None => {
                problems.add(
                    at,
                    format!("has no `kind`; use one of {}", KINDS.join(", ")),
                );
                return None;
            }
        };
        let Ok(read) = KindSpec::read(&kind, item, at, problems) else {
            problems.add(
                &at.key("kind"),
                format!(
                    "unknown source kind `{kind}`; use one of {}",
                    KINDS.join(", ")
                ),
            );
            return None;
        };
        let (kind, common) = read?;
        let spec = Self { common, kind };
        spec.common.validate(at, problems);
        spec.kind.validate(&spec.common, at, problems);
        Some(spec)
    }

    pub fn name(&self) -> &str {
        &self.common.name
    }

    pub fn kind(&self) -> &'static str {
        self.kind.kind()
    }

    /// This source's own deadline, if it sets one.
    pub fn timeout(&self) -> Option<Duration> {
        self.common.timeout
    }

    /// The window and thresholds the reports will use; recorded in the manifest even when the
    /// source fails.
    pub fn plan(&self, clock: &RunClock) -> Plan {
        self.kind.plan(&self.common, clock)
    }

    /// The names of the reports this source writes (`{name}{suffix}` for each of its kind's).
    pub fn report_names(&self) -> Vec<String> {
        self.kind
            .report_suffixes()
            .iter()
            .map(|suffix| format!("{}{suffix}", self.name()))
            .collect()
    }

    /// Checks against the run's clock and environment that need no request; see
    /// [`crate::job::check_before_fetch`].
    pub fn check_before_fetch(
        &self,
        at: &KeyPath,
        env: &Environment,
        now: DateTime<Utc>,
        problems: &mut Problems<'_>,
    ) {
        self.kind
            .check_before_fetch(&self.common, at, env, now, problems);
    }

    /// How the window follows on from the last successful run (`window: continuous`).
    pub fn continuous_window(&self) -> Option<ContinuousWindow> {
        self.kind.continuous_window()
    }

    /// Resolves secrets, addresses and TLS roots from the environment. Nothing is fetched; a
    /// failure here is a configuration error (exit 2). Vault logins are registered in `logins`,
    /// the run's, and made when a source first needs the token.
    pub fn prepare(
        &self,
        env: &Environment,
        shared: &HttpClient,
        http: &HttpSpec,
        logins: &vault::Logins,
    ) -> Result<Source, ConfigError> {
        self.kind.prepare(&self.common, env, shared, http, logins)
    }
}

/// What a source will cover, known before it runs.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub window: Option<Window>,
    pub thresholds: BTreeMap<String, serde_json::Value>,
}

/// One holder at a time per key, across every source of a run: a server that allows only one
/// call of some kind at a time (Vault's single export per node) is asked once at a time, in
/// arrival order, however many sources point at it.
#[derive(Debug, Clone, Default)]
pub struct Exclusive(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl Exclusive {
    /// Waits until no other holder of `key` is left; the slot is free again when the guard drops.
    pub async fn hold(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let slot = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        slot.lock_owned().await
    }
}

/// What a source gets from the run: its name, the run's clock, its deadline, the run's
/// one-at-a-time slots, and a way to open reports. Sources never see the object store itself.
pub struct SourceContext {
    pub name: String,
    pub clock: RunClock,
    /// When the run gives up on this source; waits that would end later are not worth starting.
    pub deadline: Instant,
    pub exclusive: Exclusive,
    /// The window the run claimed for a continuous source; it replaces the spec's own.
    pub window: Option<Window>,
    output: Output,
    escape_formulas: bool,
}

impl SourceContext {
    pub fn new(
        name: String,
        clock: RunClock,
        deadline: Instant,
        exclusive: Exclusive,
        output: Output,
        escape_formulas: bool,
    ) -> Self {
        Self {
            name,
            clock,
            deadline,
            exclusive,
            window: None,
            output,
            escape_formulas,
        }
    }

    /// Fetches `window` instead of the window the spec would give.
    pub fn with_window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    /// Opens the report `{source}{suffix}` (suffix `""` for the main report, `-forecast`...).
    pub fn report(
        &self,
        suffix: &str,
        columns: &'static [Column],
    ) -> Result<CsvReport, ReportError> {
        let report = format!("{}{suffix}", self.name);
        let key = self.output.report_key(&self.name, &report);
        CsvReport::new(
            report,
            columns,
            self.output.writer(key),
            self.escape_formulas,
        )
    }
}

/// A source's result: its reports (not yet visible), findings for the manifest, and what the
/// run summary and the metrics show of it.
#[derive(Debug, Default)]
pub struct SourceOutput {
    pub reports: Vec<CsvReport>,
    pub findings: serde_json::Map<String, serde_json::Value>,
    pub facts: SourceFacts,
    /// Set when the API would not give every row: what is missing, in words. The reports are
    /// still written, and the source is `incomplete`, never `succeeded`.
    pub missing: Option<String>,
    /// The source fails although these reports are written: they say why it could not
    /// produce the rest (a Trend cleanup file withheld, with the accounts report explaining).
    pub failure: Option<SourceError>,
}

impl SourceOutput {
    /// `findings` is the kind's findings struct; its fields become the manifest's keys.
    pub fn new(reports: Vec<CsvReport>, findings: &impl Serialize) -> Self {
        // Findings are plain structs of numbers, flags and strings: they always serialize to
        // an object.
        let findings = match serde_json::to_value(findings) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        Self {
            reports,
            findings,
            facts: SourceFacts::default(),
            missing: None,
            failure: None,
        }
    }

    /// The source fails with `error`, and `reports` (which say why) are still written.
    pub fn failed(mut self, error: SourceError) -> Self {
        self.failure = Some(error);
        self
    }

    /// Adds what the summary and the metrics show, gathered while the reports were written.
    pub fn with_facts(mut self, facts: SourceFacts) -> Self {
        self.facts = facts;
        self
    }

    /// Marks the output incomplete: `missing` says, in words, what the reports lack.
    pub fn incomplete(mut self, missing: Option<String>) -> Self {
        self.missing = missing;
        self
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Reads a source item out of a whole job spec text, so unit tests see keys and lines as a
    //! user does, without the job module (which sits above this one).

    use super::SourceSpec;
    use crate::config::{KeyPath, Problem, Problems};

    /// The first source of `text`, or every problem found in it.
    pub fn first_source(text: &str) -> Result<SourceSpec, Vec<Problem>> {
        let mut problems = Problems::new(text);
        let job: serde_yaml::Value = serde_yaml::from_str(text).expect("test spec is YAML");
        let item = job["sources"][0].clone();
        let at = KeyPath::root().key("sources").index(0);
        match SourceSpec::from_yaml(item, &at, &mut problems) {
            Some(spec) if problems.is_empty() => Ok(spec),
            _ => Err(problems.into_list()),
        }
    }
}
