//! Access control as operators meet it, with the real binary: the first start's admin token,
//! the token command line, and logs that never hold a token.

mod common;

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, client_with, expect_status, npy_f32};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A `simbench serve` child process writing its log to a file, killed if the test ends first.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    fn start(database_url: &str, environment: &[(&str, &Path)], log: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_simbench"));
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database_url)
            .env("SIMBENCH_WORKERS", "0")
            .env("SIMBENCH_LOG_FORMAT", "json")
            .env("RUST_LOG", "trace")
            .env_remove("SIMBENCH_DATA_DIR")
            .env_remove("SIMBENCH_ADMIN_TOKEN_FILE")
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap());
        for (name, value) in environment {
            command.env(name, value);
        }
        Server {
            child: command.spawn().expect("the binary starts"),
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(self.url("/readyz")).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn stop(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn simbench(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simbench"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The secret half of a token, which must not leak either.
fn secret(token: &str) -> &str {
    token.rsplit_once('_').unwrap().1
}

#[tokio::test]
async fn the_first_start_writes_a_private_admin_token_file_and_logs_only_its_path() {
    let database = common::empty_database().await;
    let (db, url) = (database.pool.clone(), database.url.clone());
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("data");
    let log = home.path().join("serve.log");
    let server = Server::start(&url, &[("SIMBENCH_DATA_DIR", &data_dir)], &log);
    server.wait_ready().await;

    let file = data_dir.join(format!("admin-token.{}", database.name()));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    let token = std::fs::read_to_string(&file)
        .unwrap()
        .trim_end()
        .to_owned();
    let admin = client_with(&token);
    let tokens = admin.get(server.url("/v1/tokens")).send().await.unwrap();
    let tokens = expect_status(tokens, StatusCode::OK).await;
    assert_eq!(tokens["items"][0]["name"], "initial-admin");
    assert_eq!(tokens["items"][0]["scope"], "admin");
    let anonymous = reqwest::Client::new();
    let refused = anonymous
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Authenticated traffic of every kind, with the log at its most verbose.
    let created = admin
        .post(server.url("/v1/tokens"))
        .json(&json!({"name": "trainer", "scope": "write"}))
        .send()
        .await
        .unwrap();
    let created = expect_status(created, StatusCode::CREATED).await;
    let trainer_token = created["token"].as_str().unwrap().to_owned();
    let trainer = client_with(&trainer_token);
    let model = trainer
        .post(server.url("/v1/models"))
        .json(&json!({"name": "m"}))
        .send()
        .await
        .unwrap();
    let model: Value = expect_status(model, StatusCode::CREATED).await;
    let upload = trainer
        .post(server.url(&format!(
            "/v1/models/{}/representations?dataset=d&layer=0",
            model["id"]
        )))
        .header("content-type", "application/x-npy")
        .body(npy_f32(10, 4, 1))
        .send()
        .await
        .unwrap();
    expect_status(upload, StatusCode::CREATED).await;
    let forbidden = trainer.get(server.url("/v1/audit")).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let last = if token.ends_with('0') { '1' } else { '0' };
    let wrong = client_with(&format!("{}{last}", &token[..token.len() - 1]));
    let refused = wrong.get(server.url("/v1/models")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    server.stop();

    // A second start finds a token and leaves the file alone.
    let second_log = home.path().join("second.log");
    let again = Server::start(&url, &[("SIMBENCH_DATA_DIR", &data_dir)], &second_log);
    again.wait_ready().await;
    again.stop();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 2, "initial-admin and trainer, nothing more");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim_end(), token);

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.lines().count() > 20,
        "trace logging was on: {logged}"
    );
    let announcement = logged
        .lines()
        .find(|line| line.contains("initial-admin"))
        .expect("the first start says what it did");
    assert!(
        announcement.contains(file.to_str().unwrap()),
        "{announcement}"
    );
    assert!(
        announcement.contains("simbench token create"),
        "{announcement}"
    );
    for logged in [logged, std::fs::read_to_string(&second_log).unwrap()] {
        for leaked in [&token, &trainer_token] {
            assert!(!logged.contains(leaked.as_str()), "a token is in the log");
            assert!(!logged.contains(secret(leaked)), "a secret is in the log");
        }
    }
}

#[tokio::test]
async fn an_explicit_admin_token_file_is_honoured() {
    let database = common::empty_database().await;
    let url = database.url.clone();
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("secrets/simbench-admin");
    let log = home.path().join("serve.log");
    let server = Server::start(&url, &[("SIMBENCH_ADMIN_TOKEN_FILE", &file)], &log);
    server.wait_ready().await;
    let token = std::fs::read_to_string(&file)
        .unwrap()
        .trim_end()
        .to_owned();
    let response = client_with(&token)
        .get(server.url("/v1/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop();
}

#[tokio::test]
async fn each_database_gets_its_own_token_file_and_none_is_ever_replaced() {
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("data");
    let log = home.path().join("serve.log");
    let first = common::empty_database().await;
    let server = Server::start(&first.url, &[("SIMBENCH_DATA_DIR", &data_dir)], &log);
    server.wait_ready().await;
    server.stop();
    let first_file = data_dir.join(format!("admin-token.{}", first.name()));
    let first_token = std::fs::read_to_string(&first_file).unwrap();

    let second = common::empty_database().await;
    let server = Server::start(&second.url, &[("SIMBENCH_DATA_DIR", &data_dir)], &log);
    server.wait_ready().await;
    let second_token =
        std::fs::read_to_string(data_dir.join(format!("admin-token.{}", second.name()))).unwrap();
    let answer = client_with(second_token.trim_end())
        .get(server.url("/v1/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "the second file opens the second database"
    );
    server.stop();
    assert_eq!(std::fs::read_to_string(&first_file).unwrap(), first_token);

    // A fresh database pointed at a file that holds a token already: refused, file untouched.
    let third = common::empty_database().await;
    let refused = Command::new(env!("CARGO_BIN_EXE_simbench"))
        .arg("serve")
        .env("DATABASE_URL", &third.url)
        .env("SIMBENCH_BIND", "127.0.0.1:0")
        .env("SIMBENCH_ADMIN_TOKEN_FILE", &first_file)
        .env("SIMBENCH_WORKERS", "0")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(said.contains("already holds an admin token"), "{said}");
    assert!(said.contains("SIMBENCH_ADMIN_TOKEN_FILE"), "{said}");
    assert_eq!(std::fs::read_to_string(&first_file).unwrap(), first_token);
}

#[tokio::test]
async fn the_token_command_line_creates_lists_and_revokes() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;

    let created = simbench(
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--scope",
            "write",
            "--expires-in",
            "7",
        ],
        &url,
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(
        token.starts_with("sbk_") && !token.contains(char::is_whitespace),
        "the token alone on stdout: {stdout:?}"
    );
    assert!(!text(&created.stderr).contains(secret(token)));

    let ci = client_with(token);
    let model = ci
        .post(app.url("/v1/models"))
        .json(&json!({"name": "m"}))
        .send()
        .await
        .unwrap();
    let model = expect_status(model, StatusCode::CREATED).await;
    assert_eq!(model["created_by"], "ci");
    let listed = expect_status(app.get("/v1/tokens/ci").await, StatusCode::OK).await;
    assert_eq!(listed["scope"], "write");
    assert!(listed["expires_at"].is_string());

    let duplicate = simbench(
        &["token", "create", "--name", "ci", "--scope", "read"],
        &url,
    );
    assert!(!duplicate.status.success());
    assert!(
        text(&duplicate.stderr).contains("already exists"),
        "{}",
        text(&duplicate.stderr)
    );
    let bad_expiry = simbench(
        &[
            "token",
            "create",
            "--name",
            "x",
            "--scope",
            "read",
            "--expires-in",
            "0",
        ],
        &url,
    );
    assert!(!bad_expiry.status.success());

    let listed = simbench(&["token", "list"], &url);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    let row = table
        .lines()
        .find(|line| line.starts_with("ci "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("write") && row.contains("active"), "{row}");
    assert!(table.contains(common::TEST_ADMIN), "{table}");
    assert!(!table.contains(secret(token)), "{table}");
    let json_lines = simbench(&["token", "list", "--json"], &url);
    let parsed: Vec<Value> = text(&json_lines.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(parsed.len(), 2);

    let revoked = simbench(&["token", "revoke", "--name", "ci"], &url);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let refused = ci.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let table = text(&simbench(&["token", "list"], &url).stdout);
    let row = table.lines().find(|line| line.starts_with("ci ")).unwrap();
    assert!(row.contains("revoked"), "{row}");
    let unknown = simbench(&["token", "revoke", "--name", "nobody"], &url);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("nobody"));
}
