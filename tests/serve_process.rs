//! The `simbench` binary as operators run it.

mod common;

use common::free_port;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn spawn_serve(database_url: &str, port: u16, data_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_simbench"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", database_url)
        .env("SIMBENCH_DATA_DIR", data_dir)
        .env("SIMBENCH_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

async fn wait_ready(port: u16) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server on port {port} did not become ready");
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn servers_starting_together_migrate_once_and_stop_cleanly_on_sigterm() {
    let database = common::empty_database().await;
    let (db, url) = (database.pool.clone(), database.url.clone());
    let data_dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let mut children: Vec<Child> = ports
        .iter()
        .map(|port| spawn_serve(&url, *port, data_dir.path()))
        .collect();
    for port in ports {
        wait_ready(port).await;
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db)
            .await
            .unwrap();
    let known: Vec<i64> = simbench::store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(applied, known, "each migration applied exactly once");
    let tokens: Vec<String> = sqlx::query_scalar("SELECT name FROM tokens")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(tokens, ["initial-admin"], "one first admin token");

    for child in &mut children {
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let status = wait_exit(child, Duration::from_secs(10));
        assert!(status.success(), "a clean exit on SIGTERM: {status}");
    }
}

#[tokio::test]
async fn migrate_applies_the_schema_and_exits() {
    let database = common::empty_database().await;
    let (db, url) = (database.pool.clone(), database.url.clone());
    let status = Command::new(env!("CARGO_BIN_EXE_simbench"))
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(simbench::store::migrations_applied(&db).await.unwrap());
}

#[tokio::test]
async fn an_unreachable_database_is_reported() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_simbench"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("SIMBENCH_DATA_DIR", data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
