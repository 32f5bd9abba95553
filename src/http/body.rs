//! Bounded body readers, and how a body that is not what was asked for is described.

use super::*;

/// Reads at most `limit` bytes of a body as text (lossy); the rest is dropped unread.
pub async fn read_limited(
    response: reqwest::Response,
    limit: usize,
) -> Result<String, reqwest::Error> {
    let mut stream = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk?;
        let room = limit.saturating_sub(buffer.len());
        buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buffer.len() >= limit {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// Reads a whole JSON document of at most `limit` bytes (a page of a listing) into `T`.
/// `what` names the document for errors: a body that is not it says what came instead (an
/// HTML page from a proxy, by its title; otherwise the parse error and the body's start).
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<T, BodyError> {
    let body = read_limited_bytes(response, limit, what).await?;
    serde_json::from_slice(&body).map_err(|e| {
        let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
        BodyError::Invalid(match html_title(&text) {
            Some(title) => format!("expected {what}, got {}", html_page(&title)),
            None => format!("expected {what}: {e}; body starts `{}`", snippet(&text)),
        })
    })
}

/// Like [`read_json`], for a document that carries secrets (a login answer with its token, a
/// token lookup, a project list with SDK keys): a body that is not `what` is described by its
/// kind and position only, never quoted, since serde's own messages quote the values they
/// refuse.
pub async fn read_secret_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<T, BodyError> {
    let bytes = read_limited_bytes(response, limit, what).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        BodyError::Invalid(match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("expected {what}, got a body that is not JSON")
            }
            _ => format!(
                "expected {what}, got JSON of another shape (line {}, column {}; not quoted, it may hold secrets)",
                e.line(),
                e.column()
            ),
        })
    })
}

/// An error body for messages, in the same words for every source: an HTML page (a sign-in
/// page, a proxy's error page, the wrong server) by its title, anything else by its start.
pub fn describe_body(body: &str) -> String {
    match html_title(body) {
        Some(title) => html_page(&title),
        None => snippet(body),
    }
}

pub(super) fn html_page(title: &str) -> String {
    format!("an HTML page (`{title}`), likely from a proxy, a gateway or the wrong server")
}

/// The title of an HTML page, or `untitled`; `None` if the body is not HTML.
pub fn html_title(body: &str) -> Option<String> {
    let head: String = body.chars().take(4096).collect();
    let lower = head.to_ascii_lowercase();
    let trimmed = lower.trim_start();
    if !(trimmed.starts_with("<!doctype html") || trimmed.starts_with("<html")) {
        return None;
    }
    let title = lower
        .find("<title>")
        .and_then(|open| {
            let from = open + "<title>".len();
            lower[from..]
                .find("</title>")
                .map(|len| &head[from..from + len])
        })
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    Some(snippet(title.as_deref().unwrap_or("untitled")))
}

/// A short, single-line version of a body for messages.
pub fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut out: String = trimmed
        .chars()
        .take(SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if trimmed.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// The whole body, refused once it passes `limit` bytes.
async fn read_limited_bytes(
    response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, BodyError> {
    let mut body: Vec<u8> = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::Invalid(format!(
                "expected {what}, got more than {} MiB",
                limit / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
