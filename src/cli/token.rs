//! `simbench token create|list|revoke`: token management straight on the database, for the
//! first admin and for operators who have lost theirs.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::serve::connect_and_migrate;
use crate::access::{self, MAX_EXPIRES_IN_DAYS, Scope};
use crate::config::DatabaseConfig;
use crate::http::error::ApiError;
use crate::store::tokens::{self, NewToken, Token};
use crate::store::{Page, PageRequest};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, alone, on standard output: it is shown only this once.
    Create(CreateArgs),
    /// List tokens: names, scopes, dates; never the tokens themselves.
    List(ListArgs),
    /// Revoke a token: every request bearing it is refused from now on.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// A name for the token, e.g. ci-uploads (letters, digits and _ . : -).
    #[arg(long)]
    pub name: String,

    /// read: GET requests; write: also uploads and every other change; admin: also tokens and
    /// the audit log.
    #[arg(long, value_enum)]
    pub scope: Scope,

    /// Days until the token expires; without it, it never does.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i32).range(1..=i64::from(MAX_EXPIRES_IN_DAYS)))]
    pub expires_in: Option<i32>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// The name of the token to revoke.
    #[arg(long)]
    pub name: String,
}

pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => create(args).await,
        TokenCommand::List(args) => list(args).await,
        TokenCommand::Revoke(args) => revoke(args).await,
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let db = connect_and_migrate(&args.database).await?;
    let new = NewToken {
        name: &args.name,
        scope: args.scope,
        expires_in_days: args.expires_in,
        created_by: None,
    };
    let issued = access::issue(&mut *db.acquire().await?, &new)
        .await
        .map_err(explain)?;
    println!("{}", issued.plaintext.expose());
    tracing::info!(
        name = %issued.token.name,
        scope = %issued.token.scope,
        "token created; send it as the header Authorization: Bearer <token>, or hand it to clients through SIMBENCH_TOKEN"
    );
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let db = connect_and_migrate(&args.database).await?;
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page: Page<Token> = tokens::list(&db, PageRequest { after, limit: 1000 })
            .await
            .map_err(explain)?;
        all.extend(page.items);
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    if args.json {
        for token in &all {
            println!("{}", serde_json::to_string(token)?);
        }
        return Ok(());
    }
    let now = Utc::now();
    println!(
        "{:<24} {:<6} {:<8} {:<17} {:<17} {:<17} created by",
        "name", "scope", "status", "created", "expires", "last used"
    );
    for token in &all {
        println!(
            "{:<24} {:<6} {:<8} {:<17} {:<17} {:<17} {}",
            token.name,
            token.scope,
            status(token, now),
            minute(Some(token.created_at)),
            minute(token.expires_at),
            minute(token.last_used_at),
            token.created_by.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let db = connect_and_migrate(&args.database).await?;
    let token = tokens::revoke(&db, &args.name).await.map_err(explain)?;
    tracing::info!(name = %token.name, "token revoked");
    Ok(())
}

fn status(token: &Token, now: DateTime<Utc>) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.expires_at.is_some_and(|expires| expires <= now) {
        "expired"
    } else {
        "active"
    }
}

fn minute(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(
        || "-".to_owned(),
        |time| time.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// A client error as the operator should read it; a server error with its cause.
fn explain(error: impl Into<ApiError>) -> anyhow::Error {
    let error = error.into();
    if error.status().is_client_error() {
        anyhow::anyhow!(error.detail())
    } else {
        anyhow::Error::new(error).context("the database refused the request")
    }
}
