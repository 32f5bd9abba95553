//! Checks shared by every part of the spec: names, environment variable names, API base URLs.

use super::{KeyPath, Problems};
use url::Url;

/// The rule of [`check_name`] for editors and `helm lint`, which read the JSON Schema.
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$";

/// The rule of [`check_env_name`] for editors and `helm lint`.
pub const ENV_NAME_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

/// Names used in object keys and logs: short, and safe in any object store and file system.
pub fn check_name(problems: &mut Problems<'_>, key: &KeyPath, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with('.');
    if !ok {
        problems.add(
            key,
            format!(
                "`{name}` is not a valid name: use 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.`"
            ),
        );
    }
}

/// Environment variable names: what a shell and Kubernetes accept.
pub fn check_env_name(problems: &mut Problems<'_>, key: &KeyPath, name: &str) {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        problems.add(key, format!("`{name}` is not an environment variable name"));
    }
}

/// A URL as written, for messages: whatever stands before an `@` (a user and password pasted
/// into it) is left out.
pub fn url_for_messages(text: &str) -> String {
    let Some((before, host)) = text.rsplit_once('@') else {
        return text.to_owned();
    };
    match before.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…@{host}"),
        None => format!("…@{host}"),
    }
}

/// An API base URL: absolute, http(s), no query, and https unless allowed.
pub fn parse_base_url(text: &str, allow_http: bool) -> Result<Url, String> {
    let shown = url_for_messages(text);
    // `host:8200` parses as a URL whose scheme is the host: say what is really missing.
    if !text.contains("://") {
        let with_scheme = format!("https://{}", text.trim_start_matches('/'));
        return Err(match Url::parse(&with_scheme) {
            Ok(_) => format!(
                "`{shown}` has no scheme; write it with one, e.g. `{}`",
                url_for_messages(&with_scheme)
            ),
            Err(e) => format!("`{shown}` is not a URL: {e}"),
        });
    }
    let url = Url::parse(text).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{shown}` must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{}` must not carry credentials; use the token variable",
            url.host_str().unwrap_or("the URL")
        ));
    }
    check_scheme(&url, allow_http)?;
    Ok(url)
}

/// Plain http is only allowed to loopback, or when the spec says so: a token must not cross a
/// network in clear text by accident.
pub fn check_scheme(url: &Url, allow_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "`{url}` is plain http to a host that is not loopback; use https, or set `allow_http: true` on this source"
        )),
        other => Err(format!("`{url}` has scheme `{other}`; use https")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        assert!(check_scheme(&Url::parse("http://127.0.0.1:8200").unwrap(), false).is_ok());
        assert!(check_scheme(&Url::parse("http://localhost:8200").unwrap(), false).is_ok());
        assert!(check_scheme(&Url::parse("http://vault.internal:8200").unwrap(), false).is_err());
        assert!(check_scheme(&Url::parse("http://vault.internal:8200").unwrap(), true).is_ok());
        assert!(check_scheme(&Url::parse("ftp://x").unwrap(), true).is_err());
    }

    #[test]
    fn an_address_without_scheme_is_said_to_lack_one() {
        for text in ["vault.acme.internal:8200", "vault.acme.internal"] {
            let message = parse_base_url(text, false).unwrap_err();
            assert_eq!(
                message,
                format!("`{text}` has no scheme; write it with one, e.g. `https://{text}`")
            );
        }
        assert!(parse_base_url("https://vault.acme.internal:8200", false).is_ok());
    }
}
