//! First start: a service with no token at all creates an admin token and hands it over in a
//! file only its owner can read, so that `make run` needs no extra step.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Context;
use sqlx::PgPool;

use super::{Scope, issue};
use crate::store::tokens::{self, NewToken};

/// The name of the token created on first start.
pub const INITIAL_ADMIN: &str = "initial-admin";

/// Creates the initial admin token and writes it to `file` when the database holds no token at
/// all; returns whether it did. Under an advisory lock, so that servers starting together create
/// one token. The file is written before the token is committed: a token nobody can read would
/// keep the next start from creating another.
pub async fn ensure_admin_token(db: &PgPool, file: Option<&Path>) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    if tokens::lock_and_check_any(&mut tx).await? {
        return Ok(false);
    }
    let file = file.context(
        "no token exists and there is nowhere to write the first admin token: set SIMBENCH_ADMIN_TOKEN_FILE or SIMBENCH_DATA_DIR",
    )?;
    // The file is named after its database, so one that exists belongs to an earlier database
    // of this name, now gone: its token opens nothing here, and replacing it silently would
    // lose what it says about that database.
    if file.exists() {
        anyhow::bail!(
            "no token exists in this database, but {} already holds an admin token (of an earlier database of the same name, or set by hand). Remove that file to have a new token written there, or set SIMBENCH_ADMIN_TOKEN_FILE to another path",
            file.display()
        );
    }
    let new = NewToken {
        name: INITIAL_ADMIN,
        scope: Scope::Admin,
        expires_in_days: None,
        created_by: None,
    };
    let issued = issue(&mut tx, &new).await?;
    write_private_file(file, issued.plaintext.expose())
        .with_context(|| format!("could not write the admin token to {}", file.display()))?;
    if let Err(error) = tx.commit().await {
        // The token does not exist after all; leave no file pretending it does.
        let _ = fs::remove_file(file);
        return Err(error.into());
    }
    Ok(true)
}

/// Writes `secret` and a newline to `file`, readable and writable by the owner only from the
/// moment it exists: a temporary file created with mode 0600 next to it, then renamed over it.
/// Missing directories are created with mode 0700.
fn write_private_file(file: &Path, secret: &str) -> std::io::Result<()> {
    let directory = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)?;
    let file_name = file.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let mut temporary_name = file_name.to_owned();
    temporary_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let temporary = directory.join(temporary_name);
    let written = (|| -> std::io::Result<()> {
        let mut handle = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        handle.write_all(secret.as_bytes())?;
        handle.write_all(b"\n")?;
        handle.sync_all()?;
        fs::rename(&temporary, file)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_file_is_private_from_the_start_and_replaces_a_stale_one() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("nested/deeper/admin-token");
        write_private_file(&file, "first").unwrap();
        write_private_file(&file, "second").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "second\n");
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let parent = fs::metadata(file.parent().unwrap()).unwrap();
        assert_eq!(parent.permissions().mode() & 0o777, 0o700);
        let leftovers = fs::read_dir(file.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
