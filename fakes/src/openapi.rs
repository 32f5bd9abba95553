//! Every request a fake receives is held against the vendor's own OpenAPI document (a cut of it
//! kept in `fakes/openapi/`, see the README there): the path and method must be an operation of
//! the API, each query, path and header parameter must be declared and parse as its schema says
//! (type, format, enum, range), required ones must be there, and a request body must be the
//! declared media type and match its schema. A request the document refuses is answered with
//! the API's own error shape and recorded as a violation, which fails the test.
//!
//! The documents are OpenAPI 3.0, whose schema dialect is not JSON Schema (`nullable`, its own
//! `$ref` resolution against `components`), so the handful of keywords these documents use is
//! checked here directly on `serde_json::Value` rather than through a JSON Schema validator.
//! `pattern` is not checked (no regular expression appears in the schemas the fakes serve).

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One vendor API's OpenAPI document and how that API says "bad request".
pub struct Contract {
    /// Names the API in violations: "LaunchDarkly", "Vault".
    api: &'static str,
    /// Where the document's paths are mounted on the server (`/v1` for Vault).
    base_path: &'static str,
    document: Value,
    refusal: fn(&str) -> Response,
}

impl Contract {
    /// Parses `document` (the crate's own file: a parse error is a defect of the crate).
    pub fn new(
        api: &'static str,
        base_path: &'static str,
        document: &str,
        refusal: fn(&str) -> Response,
    ) -> Self {
        let document: Value = serde_json::from_str(document).unwrap_or_else(|e| {
            panic!("the {api} OpenAPI document in fakes/openapi/ is not JSON: {e}")
        });
        Self {
            api,
            base_path,
            document,
            refusal,
        }
    }

    /// The answer the real API gives a request it refuses.
    pub fn refusal(&self, problem: &str) -> Response {
        (self.refusal)(problem)
    }

    /// `Ok` if the real API would accept the request's shape; otherwise what is wrong.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let fail = |why: String| Err(format!("{} {method} {path}: {why}", self.api));
        let Some(relative) = path.strip_prefix(self.base_path) else {
            return fail(format!("not under {}", self.base_path));
        };
        let mut candidates = self.operations(relative);
        if candidates.is_empty() {
            return fail("no such path in the API".to_owned());
        }
        // A mount at its default path (`auth/kubernetes/login`) is that template's own.
        if candidates
            .iter()
            .any(|(item, values)| self.at_defaults(item, values))
        {
            candidates.retain(|(item, values)| self.at_defaults(item, values));
        }
        let method = method.to_ascii_lowercase();
        let mut first_problem = None;
        let mut any_method = false;
        // Several templates can match one path (Vault's `auth/{mount}/login` for each auth
        // method): the request is fine if it satisfies one of them.
        for (item, path_params) in candidates {
            let Some(operation) = item.get(&method) else {
                continue;
            };
            any_method = true;
            match self.check_operation(item, operation, &path_params, query, headers, body) {
                Ok(()) => return Ok(()),
                Err(problem) => {
                    first_problem.get_or_insert(problem);
                }
            }
        }
        if !any_method {
            return fail(format!(
                "method {} not allowed",
                method.to_ascii_uppercase()
            ));
        }
        fail(first_problem.unwrap_or_default())
    }

    /// Path items whose template matches `path`, with the values of their path parameters.
    fn operations(&self, path: &str) -> Vec<(&Value, Vec<(String, String)>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let Some(paths) = self.document["paths"].as_object() else {
            return Vec::new();
        };
        paths
            .iter()
            .filter_map(|(template, item)| {
                let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut values = Vec::new();
                for (part, segment) in parts.iter().zip(&segments) {
                    match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        Some(name) if !segment.is_empty() => {
                            values.push((name.to_owned(), decode(segment)));
                        }
                        Some(_) => return None,
                        None if part == segment => {}
                        None => return None,
                    }
                }
                Some((item, values))
            })
            .collect()
    }

    /// Every path parameter has its template's default value.
    fn at_defaults(&self, item: &Value, values: &[(String, String)]) -> bool {
        !values.is_empty()
            && values.iter().all(|(name, value)| {
                list(&item["parameters"])
                    .map(|p| self.resolve(p))
                    .any(|p| p["name"] == name.as_str() && p["schema"]["default"] == value.as_str())
            })
    }

    fn check_operation(
        &self,
        item: &Value,
        operation: &Value,
        path_params: &[(String, String)],
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let parameters = self.parameters(item, operation);
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        for (name, _) in &pairs {
            if !parameters
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == name.as_str())
            {
                return Err(format!("query parameter `{name}` is not declared"));
            }
        }
        for parameter in &parameters {
            let name = parameter["name"].as_str().unwrap_or_default();
            let required = parameter["required"].as_bool().unwrap_or(false);
            let schema = self.resolve(&parameter["schema"]);
            let values: Vec<String> = match parameter["in"].as_str() {
                Some("query") => pairs
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Some("path") => path_params
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Some("header") => headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect(),
                _ => continue,
            };
            let place = parameter["in"].as_str().unwrap_or_default();
            if values.is_empty() {
                if required {
                    return Err(format!("required {place} parameter `{name}` is missing"));
                }
                continue;
            }
            let array = schema["type"] == "array";
            if values.len() > 1 && !array {
                return Err(format!("{place} parameter `{name}` is repeated"));
            }
            for value in &values {
                let item_schema = if array {
                    self.resolve(&schema["items"])
                } else {
                    schema
                };
                self.check_text(item_schema, value)
                    .map_err(|why| format!("{place} parameter `{name}`={value:?}: {why}"))?;
            }
        }
        self.check_body(operation, headers, body)
    }

    /// Path-level parameters, overridden by the operation's own of the same name and place.
    fn parameters<'a>(&'a self, item: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
        let own: Vec<&Value> = list(&operation["parameters"])
            .map(|p| self.resolve(p))
            .collect();
        let mut all: Vec<&Value> = list(&item["parameters"])
            .map(|p| self.resolve(p))
            .filter(|p| {
                !own.iter()
                    .any(|o| o["name"] == p["name"] && o["in"] == p["in"])
            })
            .collect();
        all.extend(own);
        all
    }

    fn check_body(
        &self,
        operation: &Value,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let declared = self.resolve(&operation["requestBody"]);
        if declared.is_null() {
            return if body.is_empty() {
                Ok(())
            } else {
                Err("the operation takes no request body".to_owned())
            };
        }
        if body.is_empty() {
            return if declared["required"].as_bool().unwrap_or(false) {
                Err("the request body is required".to_owned())
            } else {
                Ok(())
            };
        }
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let Some(media) = declared["content"].get(&content_type) else {
            let known: Vec<&String> = declared["content"]
                .as_object()
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            return Err(format!(
                "body of type {content_type:?}, the operation takes {known:?}"
            ));
        };
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("the request body is not JSON: {e}"))?;
        self.check_value(self.resolve(&media["schema"]), &value, "body")
    }

    /// A parameter's text against its schema, read as the schema's type.
    fn check_text(&self, schema: &Value, text: &str) -> Result<(), String> {
        let value = match schema["type"].as_str() {
            Some("integer") => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| "not an integer".to_owned())?,
            Some("number") => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| "not a number".to_owned())?,
            Some("boolean") => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err("not `true` or `false`".to_owned()),
            },
            _ => Value::String(text.to_owned()),
        };
        self.check_value(schema, &value, "value")
    }

    /// `value` against an OpenAPI 3.0 schema; `at` names the place for the message.
    fn check_value(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if schema.is_null() || schema.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(());
        }
        if value.is_null() && schema["nullable"].as_bool().unwrap_or(false) {
            return Ok(());
        }
        for part in list(&schema["allOf"]) {
            self.check_value(part, value, at)?;
        }
        if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array())
            && !options
                .iter()
                .any(|o| self.check_value(o, value, at).is_ok())
        {
            return Err(format!("{at}: matches none of the allowed shapes"));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        match schema["type"].as_str() {
            Some("string") => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("{at}: {value} is not a string"))?;
                let length = text.chars().count() as u64;
                bound(
                    at,
                    "length",
                    length as f64,
                    schema,
                    "minLength",
                    "maxLength",
                )?;
            }
            Some("integer") => {
                let number = value
                    .as_i64()
                    .ok_or_else(|| format!("{at}: {value} is not an integer"))?;
                if schema["format"] == "int32" && i32::try_from(number).is_err() {
                    return Err(format!("{at}: {number} does not fit in 32 bits"));
                }
                range(at, number as f64, schema)?;
            }
            Some("number") => {
                let number = value
                    .as_f64()
                    .ok_or_else(|| format!("{at}: {value} is not a number"))?;
                range(at, number, schema)?;
            }
            Some("boolean") if !value.is_boolean() => {
                return Err(format!("{at}: {value} is not a boolean"));
            }
            Some("array") => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("{at}: {value} is not an array"))?;
                bound(
                    at,
                    "item count",
                    items.len() as f64,
                    schema,
                    "minItems",
                    "maxItems",
                )?;
                for (i, item) in items.iter().enumerate() {
                    self.check_value(&schema["items"], item, &format!("{at}[{i}]"))?;
                }
            }
            Some("object") => {
                let fields = value
                    .as_object()
                    .ok_or_else(|| format!("{at}: {value} is not an object"))?;
                for name in list(&schema["required"]).filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        return Err(format!("{at}: required field `{name}` is missing"));
                    }
                }
                let properties = schema["properties"].as_object();
                for (name, field) in fields {
                    match properties.and_then(|p| p.get(name)) {
                        Some(field_schema) => {
                            self.check_value(field_schema, field, &format!("{at}.{name}"))?
                        }
                        None => match &schema["additionalProperties"] {
                            Value::Bool(false) => {
                                return Err(format!("{at}: field `{name}` is not allowed"));
                            }
                            extra @ Value::Object(_) => {
                                self.check_value(extra, field, &format!("{at}.{name}"))?
                            }
                            _ => {}
                        },
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Follows `$ref`s within the document (`#/components/...`).
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        // Bounded, so a reference cycle in a document cannot hang a test.
        for _ in 0..32 {
            let Some(reference) = value["$ref"].as_str() else {
                return value;
            };
            value = reference
                .strip_prefix('#')
                .and_then(|pointer| self.document.pointer(pointer))
                .unwrap_or(&Value::Null);
        }
        value
    }
}

fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn range(at: &str, number: f64, schema: &Value) -> Result<(), String> {
    bound(at, "value", number, schema, "minimum", "maximum")?;
    let exclusive = |key: &str| schema[key].as_bool().unwrap_or(false);
    if exclusive("exclusiveMinimum") && schema["minimum"].as_f64() == Some(number) {
        return Err(format!("{at}: must be above {number}"));
    }
    if exclusive("exclusiveMaximum") && schema["maximum"].as_f64() == Some(number) {
        return Err(format!("{at}: must be below {number}"));
    }
    Ok(())
}

fn bound(
    at: &str,
    what: &str,
    n: f64,
    schema: &Value,
    low: &str,
    high: &str,
) -> Result<(), String> {
    if let Some(min) = schema[low].as_f64()
        && n < min
    {
        return Err(format!("{at}: {what} {n} is below the minimum {min}"));
    }
    if let Some(max) = schema[high].as_f64()
        && n > max
    {
        return Err(format!("{at}: {what} {n} is above the maximum {max}"));
    }
    Ok(())
}

fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Requests a fake refused because the vendor's document would have, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Violations(Arc<Mutex<Vec<String>>>);

impl Violations {
    pub fn push(&self, problem: String) {
        crate::chassis::lock(&self.0).push(problem);
    }

    pub fn all(&self) -> Vec<String> {
        crate::chassis::lock(&self.0).clone()
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *crate::chassis::lock(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use crate::{launchdarkly, vault};
    use axum::http::HeaderMap;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().expect("header"));
        headers
    }

    fn ld_get(query: &str) -> Result<(), String> {
        launchdarkly::contract().check(
            "GET",
            "/api/v2/auditlog",
            Some(query),
            &HeaderMap::new(),
            b"",
        )
    }

    #[test]
    fn launchdarkly_list_parameters_are_typed_and_ranged() {
        assert_eq!(
            ld_get("after=1&before=1763700000000&limit=20&q=flag&spec=proj/*"),
            Ok(())
        );
        assert_eq!(ld_get(""), Ok(()));
        for (query, why) in [
            ("limit=21", "above the maximum 20"),
            ("limit=0", "below the minimum 1"),
            ("limit=ten", "not an integer"),
            ("before=2026-11-01", "not an integer"),
            ("after=1.5", "not an integer"),
            ("offset=20", "`offset` is not declared"),
            ("limit=5&limit=6", "repeated"),
        ] {
            let problem = ld_get(query).expect_err(query);
            assert!(problem.contains(why), "{query}: {problem}");
        }
    }

    #[test]
    fn launchdarkly_search_body_is_a_statement_list() {
        let check = |body: &str| {
            launchdarkly::contract().check(
                "POST",
                "/api/v2/auditlog",
                Some("limit=20"),
                &json_headers(),
                body.as_bytes(),
            )
        };
        assert_eq!(
            check(r#"[{"effect":"allow","resources":["proj/*:env/*:flag/*"]}]"#),
            Ok(())
        );
        for (body, why) in [
            (r#"[{"resources":["proj/*"]}]"#, "required field `effect`"),
            (r#"[{"effect":"maybe"}]"#, "is not one of"),
            (
                r#"[{"effect":"allow","resources":"proj/*"}]"#,
                "is not an array",
            ),
            (r#"{"effect":"allow"}"#, "is not an array"),
            ("effect=allow", "not JSON"),
        ] {
            let problem = check(body).expect_err(body);
            assert!(problem.contains(why), "{body}: {problem}");
        }
        let problem = launchdarkly::contract()
            .check("POST", "/api/v2/auditlog", None, &HeaderMap::new(), b"[]")
            .expect_err("no content type");
        assert!(problem.contains("body of type"), "{problem}");
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let contract = launchdarkly::contract();
        let problem = contract
            .check("DELETE", "/api/v2/auditlog", None, &HeaderMap::new(), b"")
            .expect_err("delete");
        assert!(problem.contains("method DELETE not allowed"), "{problem}");
        let problem = contract
            .check("GET", "/api/v2/audit-log", None, &HeaderMap::new(), b"")
            .expect_err("typo");
        assert!(problem.contains("no such path"), "{problem}");
        let problem = vault::contract()
            .check(
                "GET",
                "/sys/internal/counters/activity/export",
                None,
                &HeaderMap::new(),
                b"",
            )
            .expect_err("no /v1");
        assert!(problem.contains("not under /v1"), "{problem}");
    }

    #[test]
    fn vault_export_takes_its_documented_parameters_and_no_body() {
        let check = |query: &str, body: &[u8]| {
            vault::contract().check(
                "GET",
                "/v1/sys/internal/counters/activity/export",
                Some(query),
                &HeaderMap::new(),
                body,
            )
        };
        assert_eq!(
            check(
                "start_time=2026-11-01T00:00:00Z&end_time=1764547199&format=json",
                b""
            ),
            Ok(())
        );
        let problem = check("start_time=x&limit_namespaces=3", b"").expect_err("undeclared");
        assert!(
            problem.contains("`limit_namespaces` is not declared"),
            "{problem}"
        );
        let problem = check("", b"{}").expect_err("body on a GET");
        assert!(problem.contains("takes no request body"), "{problem}");
    }

    #[test]
    fn vault_login_payloads_are_checked_per_auth_method() {
        let login = |mount: &str, body: &str| {
            vault::contract().check(
                "POST",
                &format!("/v1/auth/{mount}/login"),
                None,
                &json_headers(),
                body.as_bytes(),
            )
        };
        assert_eq!(
            login("kubernetes", r#"{"role":"rollcall","jwt":"eyJ..."}"#),
            Ok(())
        );
        assert_eq!(
            login("approle", r#"{"role_id":"r","secret_id":"s"}"#),
            Ok(())
        );
        // A mount at its default path is held to that auth method's payload.
        let problem =
            login("kubernetes", r#"{"role":7,"jwt":"eyJ..."}"#).expect_err("role as number");
        assert!(
            problem.contains("body.role: 7 is not a string"),
            "{problem}"
        );
        // Elsewhere the payload must fit one of the auth methods (Vault ignores unknown fields,
        // so the method with no fields in common accepts almost anything).
        assert_eq!(login("k8s-prod", r#"{"role":"r","jwt":"eyJ..."}"#), Ok(()));
        let problem = login("kubernetes", "").expect_err("no body");
        assert!(problem.contains("request body is required"), "{problem}");
    }

    #[tokio::test]
    #[should_panic(expected = "requests the real API would refuse")]
    async fn a_fake_that_saw_a_refused_request_fails_the_test_when_dropped() {
        let fake = launchdarkly::FakeLaunchDarkly::start("api-token").await;
        let answer = reqwest::Client::new()
            .get(format!("{}/api/v2/auditlog?limit=50", fake.url()))
            .header("authorization", "api-token")
            .send()
            .await
            .expect("the fake answers");
        // Refused in LaunchDarkly's own shape, although the fake could have served 50.
        assert_eq!(answer.status(), 400);
        let body: serde_json::Value = answer.json().await.expect("a JSON error");
        assert_eq!(body["code"], "invalid_request");
        drop(fake);
    }
}
