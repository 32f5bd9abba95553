//! Reading the spec and preparing the selected sources: every problem at once, nothing fetched.

use super::*;

/// Checks the spec and the environment for every selected source; fetches nothing. Reports
/// every problem at once: the spec's, and the environment's for each source whose own keys are
/// valid (a source with problems of its own is not prepared, which would only repeat them).
pub fn validate(options: &RunOptions) -> Result<(JobSpec, Vec<Source>), ConfigError> {
    prepare(options, &Logins::default()).map(|(spec, sources, _)| (spec, sources))
}

/// [`validate`], with the sources' Vault logins registered in `logins` (none is made yet), also
/// handing back the shared HTTP client the sources were prepared with.
pub(super) fn prepare(
    options: &RunOptions,
    logins: &Logins,
) -> Result<(JobSpec, Vec<Source>, HttpClient), ConfigError> {
    prepare_with_retries(options, logins, None)
}

/// [`prepare`], with the sources' HTTP retries capped at `max_retries` when given (`check`
/// answers in seconds: one retry rides out a blip, more would only delay the answer).
pub fn prepare_with_retries(
    options: &RunOptions,
    logins: &Logins,
    max_retries: Option<u32>,
) -> Result<(JobSpec, Vec<Source>, HttpClient), ConfigError> {
    let (checked, text) = job::load_checked(&options.config)?;
    let mut errors = Vec::new();
    if !checked.problems.is_empty() {
        errors.push(ConfigError::Invalid {
            path: options.config.clone(),
            problems: checked.problems,
        });
    }
    let Some(mut spec) = checked.spec else {
        return Err(ConfigError::all(errors));
    };
    if let Some(cap) = max_retries {
        spec.http.max_retries = spec.http.max_retries.min(cap);
    }
    let selected = selected_sources(&spec, options)?;
    // Checked before the unselected sources are dropped, so every problem keeps its own line.
    if let Err(e) = job::check_before_fetch(
        &options.config,
        &text,
        &spec,
        &options.env,
        options.clock.now(),
        &|name| selected.iter().any(|s| s == name),
    ) {
        errors.push(e);
    }
    spec.sources
        .retain(|s| selected.iter().any(|n| n == s.name()));
    let shared =
        HttpClient::new(&spec.http, None).map_err(|e| ConfigError::Environment(e.to_string()))?;
    let mut prepared = Vec::with_capacity(spec.sources.len());
    for source in &spec.sources {
        if checked
            .sources_with_problems
            .iter()
            .any(|name| name == source.name())
        {
            continue;
        }
        match source.prepare(&options.env, &shared, &spec.http, logins) {
            Ok(s) => prepared.push(s),
            Err(e) => errors.push(e),
        }
    }
    if let Some(url) = options.output.as_deref()
        && let Err(m) = crate::output::OutputLocation::parse(url)
    {
        errors.push(ConfigError::Environment(format!("output `{url}`: {m}")));
    }
    if errors.is_empty() {
        Ok((spec, prepared, shared))
    } else {
        Err(ConfigError::all(errors))
    }
}

/// The names of the sources this run covers: `--only`, then this shard's share.
pub(super) fn selected_sources(
    spec: &JobSpec,
    options: &RunOptions,
) -> Result<Vec<String>, ConfigError> {
    for name in &options.only {
        if !spec.sources.iter().any(|s| s.name() == name) {
            let known: Vec<&str> = spec.sources.iter().map(SourceSpec::name).collect();
            return Err(ConfigError::Environment(format!(
                "--only {name}: no source has that name; the spec has {}",
                known.join(", ")
            )));
        }
    }
    Ok(spec
        .sources
        .iter()
        .map(SourceSpec::name)
        .filter(|name| options.only.is_empty() || options.only.iter().any(|n| n == name))
        .filter(|name| options.shard.is_none_or(|shard| shard.owns(name)))
        .map(str::to_owned)
        .collect())
}
