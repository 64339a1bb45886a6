//! deploy/: the dashboard and alert rules query only metrics a running mdz exports, compose,
//! Kubernetes and Terraform set only configuration keys that exist, and every file passes its
//! own validator (promtool, kubectl kustomize + kubernetes-validate, checkov, python-hcl2).
//! `scripts/test.sh` installs the tools (`ensure_deploy_tools` in scripts/lib.sh).

use crate::collab::{eventually, raw_socket, sample_update, update_frame};
use futures_util::SinkExt;
use mdz_tests::{FakeLlm, Options, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio_tungstenite::tungstenite::Message;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A tool from a venv that `scripts/test.sh` makes.
fn venv_tool(venv: &str, tool: &str) -> PathBuf {
    let path = root().join("tests").join(venv).join(".venv/bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run the suite with scripts/test.sh (ensure_deploy_tools)",
        path.display()
    );
    path
}

/// Run a command; its stdout, or a panic with everything it said.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test.sh installs the deploy tools)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every document of a YAML file (or text), as JSON, read by PyYAML.
fn yaml_docs(text: &str) -> Vec<Value> {
    let dir = tempfile_dir();
    let file = dir.join("in.yaml");
    std::fs::write(&file, text).unwrap();
    let out = run(Command::new(venv_tool("deploy-py", "python")).args([
        "-c",
        "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        file.to_str().unwrap(),
    ]));
    std::fs::remove_dir_all(&dir).ok();
    serde_json::from_str(&out).unwrap()
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdz-deploy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Metric names a PromQL expression reads: identifiers that are not functions, aggregations,
/// keywords, label names (in `{…}` or `by (…)`), durations, numbers or `$variables`.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 8] = [
        "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
    ];
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skip to just past the `close` that balances chars[i] (quotes inside are skipped).
    let skip_balanced = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(_) if c == '\\' => i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c == open => depth += 1,
                None if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                None => {}
            }
            i += 1;
        }
        i
    };
    let next_non_space = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_balanced(i, '{', '}');
        } else if c == '[' {
            i = skip_balanced(i, '[', ']');
        } else if c == '"' || c == '\'' || c == '`' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            // A variable ($instance, $__rate_interval) or a number (0.99, 1e3).
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.".contains(chars[i])) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = next_non_space(i);
            // `sum by (le) (…)`: an aggregation with its grouping before the parenthesis.
            let word_after: String = chars[next..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            let called = (next < chars.len() && chars[next] == '(')
                || (!GROUPING.contains(&word.as_str())
                    && (word_after == "by" || word_after == "without"));
            if GROUPING.contains(&word.as_str()) {
                if called {
                    i = skip_balanced(next, '(', ')');
                }
            } else if !called && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_promql_name_parser_finds_metrics_and_nothing_else() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!~"/x|{y}",s="5.."}[$__rate_interval])))
           / on (instance) group_left b:rec > 14.4 * 0.005 unless sum without (x) (c offset 5m) and bool d"#,
    );
    let want: BTreeSet<String> = ["a_bucket", "b:rec", "c", "d"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, want);
}

/// The dashboard's queries: every target and every templating query.
fn dashboard_queries() -> Vec<String> {
    let dash: Value = serde_json::from_str(&read("deploy/grafana/mdz.json")).unwrap();
    let mut exprs = Vec::new();
    let panels = dash["panels"].as_array().unwrap();
    for panel in panels.iter().chain(
        panels
            .iter()
            .flat_map(|p| p["panels"].as_array().into_iter().flatten()),
    ) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap();
        // label_values(metric, label): only the metric is a series.
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.split(',').next())
            .unwrap_or(query);
        exprs.push(inner.to_owned());
    }
    assert!(exprs.len() > 20, "the dashboard has its panels: {exprs:?}");
    exprs
}

/// The alert rules: (record names, expressions).
fn alert_rules() -> (BTreeSet<String>, Vec<String>) {
    let doc = yaml_docs(&read("deploy/prometheus/alerts.yml")).remove(0);
    let mut records = BTreeSet::new();
    let mut exprs = Vec::new();
    for group in doc["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if let Some(r) = rule["record"].as_str() {
                records.insert(r.to_owned());
            }
            exprs.push(rule["expr"].as_str().unwrap().to_owned());
        }
    }
    (records, exprs)
}

/// Sample names in a Prometheus text exposition.
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

async fn scrape(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

/// Traffic that makes every family appear: REST, readiness, a live edit (journal), a socket
/// the server closes, a chat answer with token usage.
async fn traffic(app: &TestApp, llm_model: &str) {
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let file = app.create_file(&owner, &project, "ops.md", "# Ops\n").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/no-such-route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A second socket on the room gets the edit relayed (fan-out latency).
    let watcher = raw_socket(app, &file, &owner.access).await;
    let mut ws = raw_socket(app, &file, &owner.access).await;
    ws.send(Message::Binary(
        update_frame(&sample_update("live ")).into(),
    ))
    .await
    .unwrap();
    let mut text_frame = raw_socket(app, &file, &owner.access).await;
    text_frame
        .send(Message::Text("not a y-websocket frame".into()))
        .await
        .unwrap();

    let (status, session) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(&owner.access),
            json!({"model": llm_model}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let (status, answer) = app
        .post(
            &format!(
                "/api/v1/sessions/{}/messages",
                session["id"].as_str().unwrap()
            ),
            Some(&owner.access),
            json!({"content": "What is in ops.md?"}),
        )
        .await;
    assert!(status.is_success(), "{status} {answer}");
    for family in [
        "mdz_collab_commit_batch_updates_count",
        "mdz_collab_fanout_seconds_count",
        "mdz_collab_closes_total",
        "mdz_llm_tokens_total",
    ] {
        assert!(
            eventually(|| async { exported_names(&scrape(app).await).contains(family) }).await,
            "{family} never appeared after the traffic meant to produce it"
        );
    }
    drop((ws, watcher));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_alerts_query_only_metrics_mdz_exports() {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-fake")),
            ("llm_model", json!("gpt-test")),
        ],
        ..Options::default()
    })
    .await;
    traffic(&app, "gpt-test").await;
    let exported = exported_names(&scrape(&app).await);

    let (records, alert_exprs) = alert_rules();
    // Written by Prometheus itself, not by mdz.
    let external: BTreeSet<&str> = ["up"].into();
    let mut dead = Vec::new();
    for (source, exprs) in [("dashboard", dashboard_queries()), ("alerts", alert_exprs)] {
        for expr in &exprs {
            for name in promql_metric_names(expr) {
                let known = if name.contains(':') {
                    records.contains(&name)
                } else {
                    exported.contains(&name) || external.contains(name.as_str())
                };
                if !known {
                    dead.push(format!("{source}: {name} in {expr}"));
                }
            }
        }
    }
    assert!(
        dead.is_empty(),
        "queried but not exported by /metrics (dead panels or alerts that never fire):\n{}\n\nexported: {exported:?}",
        dead.join("\n")
    );
}

/// Every `MDZ_*` name in a file.
fn mdz_keys(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("MDZ_") {
        let tail = &rest[at + 4..];
        let len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let key = tail[..len].trim_end_matches('_');
        if !key.is_empty() {
            keys.insert(key.to_owned());
        }
        rest = &tail[len..];
    }
    keys
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn compose_kubernetes_and_terraform_set_only_documented_keys() {
    let readme = read("README.md");
    let table = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    let documented: BTreeSet<String> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap_or("");
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let config = read("crates/core/src/config/mod.rs");
    let fields: BTreeSet<String> = config
        .split("pub struct Config {")
        .nth(1)
        .and_then(|s| s.split("\n}\n").next())
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split(':').next())
        .map(str::to_owned)
        .collect();
    assert!(fields.contains("shutdown_timeout_secs") && documented.contains("LISTEN"));

    let mut files = vec![
        root().join("deploy/compose.yaml"),
        root().join("deploy/Dockerfile"),
    ];
    files_under(&root().join("deploy/k8s"), &mut files);
    files_under(&root().join("deploy/terraform"), &mut files);
    let mut unknown = Vec::new();
    let mut seen = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for key in mdz_keys(&text) {
            seen += 1;
            // MDZ_CONFIG names the file (the CLI's --config), it is not a key.
            if key == "CONFIG" {
                continue;
            }
            if !documented.contains(&key) || !fields.contains(&key.to_lowercase()) {
                unknown.push(format!(
                    "{}: MDZ_{key} (README table: {}, config/mod.rs: {})",
                    file.display(),
                    documented.contains(&key),
                    fields.contains(&key.to_lowercase())
                ));
            }
        }
    }
    assert!(seen > 30, "the deploy files set keys: {seen}");
    assert!(
        unknown.is_empty(),
        "keys mdz does not have (start-up would stop on them):\n{}",
        unknown.join("\n")
    );
}

/// Render a kustomization with kubectl.
fn kustomize(dir: &str) -> String {
    run(Command::new("kubectl").args(["kustomize", dir]))
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn kubernetes_manifests_render_validate_and_match_mdz() {
    let dir = tempfile_dir();
    let mut rendered = Vec::new();
    for (name, path) in [
        ("base", "deploy/k8s/base"),
        ("external", "deploy/k8s/overlays/external"),
    ] {
        let yaml = kustomize(path);
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        rendered.push((name, file, yaml_docs(&yaml)));
    }
    let mut validate = Command::new(venv_tool("deploy-py", "kubernetes-validate"));
    validate.args(["--strict", "--quiet"]);
    validate.args(rendered.iter().map(|(_, f, _)| f.clone()));
    validate.arg("deploy/k8s/base/secret.example.yaml");
    run(&mut validate);

    let openapi = serde_json::to_value(mdz_server::openapi::document()).unwrap();
    for (name, _, docs) in &rendered {
        let cm = &find(docs, "ConfigMap", "mdz")["data"];
        let shutdown: u64 = cm["MDZ_SHUTDOWN_TIMEOUT_SECS"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let pod = &find(docs, "Deployment", "mdz")["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let pre_stop: u64 = c["lifecycle"]["preStop"]["exec"]["command"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            pod["terminationGracePeriodSeconds"].as_u64().unwrap() > pre_stop + shutdown,
            "{name}: the grace period must cover preStop + MDZ_SHUTDOWN_TIMEOUT_SECS"
        );
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let path = c[probe]["httpGet"]["path"].as_str().unwrap();
            assert!(
                openapi["paths"][path]["get"].is_object(),
                "{name}: {probe} {path} is no route of mdz"
            );
        }
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health/ready");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health/live");
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        let data_dir = cm["MDZ_DATA_DIR"].as_str().unwrap();
        assert!(
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mountPath"] == data_dir),
            "{name}: MDZ_DATA_DIR must be a writable volume"
        );
        let job = &find(docs, "Job", "mdz-migrate")["spec"]["template"]["spec"];
        assert_eq!(job["containers"][0]["args"], json!(["migrate"]));
        for kind in [
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "Ingress",
            "Service",
        ] {
            find(docs, kind, "mdz");
        }
    }
    let external = &rendered[1].2;
    assert!(
        !external
            .iter()
            .any(|d| d["metadata"]["name"] == "mdz-postgres"),
        "the external overlay brings no PostgreSQL of its own"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn prometheus_rules_config_and_dashboard_queries_pass_promtool() {
    run(Command::new("promtool").args(["check", "rules", "deploy/prometheus/alerts.yml"]));
    run(Command::new("promtool").args(["test", "rules", "deploy/prometheus/alerts_test.yml"]));
    run(Command::new("promtool").args(["check", "config", "deploy/prometheus/prometheus.yml"]));
    // The dashboard's queries parse: each one as a recording rule.
    let rules: Vec<Value> = dashboard_queries()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let expr = e
                .replace("$__rate_interval", "5m")
                .replace("$instance", ".*");
            json!({"record": format!("dashboard:query{i}"), "expr": expr})
        })
        .collect();
    let dir = tempfile_dir();
    let file = dir.join("dashboard-rules.json");
    std::fs::write(
        &file,
        json!({"groups": [{"name": "dashboard", "rules": rules}]}).to_string(),
    )
    .unwrap();
    run(Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compose_mounts_only_files_that_exist() {
    let compose = yaml_docs(&read("deploy/compose.yaml")).remove(0);
    let mut mounts = 0;
    for (name, service) in compose["services"].as_object().unwrap() {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if let Some(rel) = source.strip_prefix("./") {
                mounts += 1;
                assert!(
                    root().join("deploy").join(rel).exists(),
                    "{name} mounts {source}, which does not exist"
                );
            }
        }
    }
    assert!(mounts >= 7, "{mounts}");
}

#[test]
fn terraform_passes_checkov_and_parses_as_hcl() {
    let out = run(Command::new(venv_tool("deploy-py", "checkov")).args([
        "-d",
        "deploy/terraform",
        "--quiet",
        "--compact",
        "--skip-download",
        // Exit 0 with findings: the assertion below lists them.
        "--soft-fail",
        "-o",
        "json",
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    let reports = match report {
        Value::Array(all) => all,
        one => vec![one],
    };
    for r in &reports {
        let failed: Vec<String> = r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
            .collect();
        assert!(
            failed.is_empty(),
            "checkov findings:\n{}",
            failed.join("\n")
        );
        for skip in r["results"]["skipped_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let why = skip["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or("");
            assert!(
                why.len() > 20,
                "{} on {} is skipped without a reason",
                skip["check_id"],
                skip["resource"]
            );
        }
        assert!(
            r["summary"]["passed"].as_u64().unwrap() > 100,
            "{}",
            r["summary"]
        );
    }

    let parsed = run(Command::new(venv_tool("hcl-py", "python")).args([
        "-c",
        "import glob, json, hcl2\n\
         out = {}\n\
         for f in sorted(glob.glob('deploy/terraform/aws/*.tf')):\n\
         \x20   out[f] = hcl2.load(open(f))\n\
         print(json.dumps(out, default=str))",
    ]));
    let files: Value = serde_json::from_str(&parsed).unwrap();
    let resource = |file: &str, kind: &str, name: &str| -> Value {
        files[format!("deploy/terraform/aws/{file}")]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|r| {
                r[format!("\"{kind}\"")][format!("\"{name}\"")]
                    .as_object()
                    .cloned()
            })
            .map(Value::Object)
            .unwrap_or_else(|| panic!("no {kind}.{name} in {file}"))
    };
    let block = resource("s3.tf", "aws_s3_bucket_public_access_block", "attachments");
    for flag in [
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ] {
        assert_eq!(block[flag], true, "{flag}");
    }
    let lb = resource("alb.tf", "aws_lb", "mdz");
    assert!(
        lb["idle_timeout"].as_u64().unwrap() >= 3600,
        "WebSockets need a long idle timeout"
    );
    let tg = resource("alb.tf", "aws_lb_target_group", "mdz");
    assert!(tg["health_check"].to_string().contains("/health/ready"));
}
