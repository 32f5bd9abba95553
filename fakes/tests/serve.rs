//! `rollcall-fakes serve` as a user runs it: it prints where the three fakes listen and their
//! tokens, each answers an authenticated request, and Ctrl-C (SIGINT) stops it cleanly.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Generous: the first run may wait on a loaded machine; a healthy one prints in milliseconds.
const STARTUP: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn serve_prints_each_api_and_answers_it_until_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall-fakes"))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start rollcall-fakes serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    // name -> (url, token), from lines like "  vault  http://127.0.0.1:4000  token hvs.x".
    let mut apis: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut printed = Vec::new();
    tokio::time::timeout(STARTUP, async {
        while apis.len() < 3 {
            let line = stdout
                .next_line()
                .await
                .expect("read stdout")
                .expect("serve exited before printing its addresses");
            if let [name, url, "token", token] =
                line.split_whitespace().collect::<Vec<_>>().as_slice()
                && url.starts_with("http://127.0.0.1:")
            {
                apis.insert((*name).to_owned(), ((*url).to_owned(), (*token).to_owned()));
            }
            printed.push(line);
        }
        // The rest of the banner: environment lines and a spec naming every address.
        loop {
            let line = stdout
                .next_line()
                .await
                .expect("read stdout")
                .unwrap_or_default();
            let done = line.trim_start().starts_with("licensed_clients")
                || line.trim_start().starts_with("inactive_days")
                || line.trim_start().starts_with("end:");
            printed.push(line);
            if done && printed.iter().filter(|l| l.contains("kind:")).count() == 3 {
                break;
            }
        }
    })
    .await
    .expect("serve printed its addresses in time");
    let banner = printed.join("\n");
    for (name, (url, token)) in &apis {
        let exported = banner.lines().any(|line| {
            line.trim_start().starts_with("export ") && line.ends_with(&format!("={token}"))
        });
        assert!(exported, "{name}: no export line for its token: {banner}");
        assert_eq!(
            banner.matches(url.as_str()).count(),
            2,
            "{name} in table and spec: {banner}"
        );
    }

    let http = reqwest::Client::new();
    let (vault, vault_token) = &apis["vault"];
    let export = http
        .get(format!("{vault}/v1/sys/internal/counters/activity/export"))
        .query(&[
            ("start_time", "2000-01-01T00:00:00Z"),
            ("end_time", &chrono_now()),
            ("format", "json"),
        ])
        .header("X-Vault-Token", vault_token)
        .send()
        .await
        .expect("vault answers");
    assert_eq!(export.status(), 200);
    let lines = export.text().await.expect("vault body");
    assert!(lines.lines().count() > 10, "{lines}");

    let (trend, trend_token) = &apis["vision_one"];
    let accounts: serde_json::Value = http
        .get(format!("{trend}/v3.0/iam/accounts"))
        .query(&[("top", "50")])
        .bearer_auth(trend_token)
        .send()
        .await
        .expect("vision one answers")
        .error_for_status()
        .expect("vision one accepts its token")
        .json()
        .await
        .expect("vision one JSON");
    assert!(
        accounts["items"].as_array().is_some_and(|a| !a.is_empty()),
        "{accounts}"
    );

    let (ld, ld_token) = &apis["launchdarkly"];
    let entries: serde_json::Value = http
        .get(format!("{ld}/api/v2/auditlog"))
        .query(&[("limit", "20")])
        .header("Authorization", ld_token)
        .header("LD-API-Version", "20240415")
        .send()
        .await
        .expect("launchdarkly answers")
        .error_for_status()
        .expect("launchdarkly accepts its token")
        .json()
        .await
        .expect("launchdarkly JSON");
    assert_eq!(
        entries["items"].as_array().map(Vec::len),
        Some(20),
        "{entries}"
    );

    let pid = child.id().expect("serve still running").to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("run kill");
    assert!(sent.success());
    let status = tokio::time::timeout(STARTUP, child.wait())
        .await
        .expect("serve stops on Ctrl-C")
        .expect("wait for serve");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).await.expect("read stderr");
    }
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.is_empty(), "no request was refused: {stderr}");
}

fn chrono_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
