//! Content-addressed matrices, kept in PostgreSQL as chunks of at most 8 MiB.

use sqlx::{Acquire, PgConnection, PgPool, Postgres, Transaction};

use super::error::StoreError;
use crate::matrix::{CanonicalMatrix, Dtype, MatrixInfo};

/// Writes one matrix chunk by chunk inside a transaction; the caller computes its content address
/// off the async runtime. Nothing becomes visible before the caller commits; dropping it rolls
/// everything back.
pub struct BlobWriter {
    tx: Transaction<'static, Postgres>,
    pending: Option<PendingBlob>,
}

struct PendingBlob {
    id: i64,
    next_seq: i32,
}

/// A blob ready to be referenced, with the transaction that wrote it.
pub struct WrittenBlob {
    pub tx: Transaction<'static, Postgres>,
    pub id: i64,
    pub sha256: [u8; 32],
    /// Whether the matrix was already stored (the new copy was discarded).
    pub deduplicated: bool,
}

impl BlobWriter {
    pub async fn begin(db: &PgPool) -> Result<BlobWriter, StoreError> {
        Ok(BlobWriter {
            tx: db.begin().await?,
            pending: None,
        })
    }

    /// Declares the matrix once its header has been read.
    pub async fn start(&mut self, info: MatrixInfo) -> Result<(), StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO blobs (dtype, n_rows, n_cols, byte_len) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(info.dtype.name())
        .bind(info.rows as i64)
        .bind(info.cols as i64)
        .bind(info.byte_len() as i64)
        .fetch_one(&mut *self.tx)
        .await?;
        self.pending = Some(PendingBlob { id, next_seq: 0 });
        Ok(())
    }

    pub async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        let pending = self
            .pending
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("blob chunk written before its header".into()))?;
        sqlx::query("INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
            .bind(pending.id)
            .bind(pending.next_seq)
            .bind(chunk)
            .execute(&mut *self.tx)
            .await?;
        pending.next_seq += 1;
        Ok(())
    }

    /// Gives the blob its address, the SHA-256 of the matrix's `.npy` file
    /// (`matrix::ContentHasher`). When the same matrix is already stored (or another upload
    /// stores it first), the new copy is dropped and the existing blob is used.
    pub async fn finish(mut self, sha256: [u8; 32]) -> Result<WrittenBlob, StoreError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| StoreError::Corrupt("blob finished before its header".into()))?;
        let existing = find(&mut self.tx, &sha256).await?;
        if let Some(id) = existing {
            discard(&mut self.tx, pending.id).await?;
            return Ok(self.written(id, sha256, true));
        }
        let mut savepoint = self.tx.begin().await?;
        let addressed = sqlx::query("UPDATE blobs SET sha256 = $2 WHERE id = $1")
            .bind(pending.id)
            .bind(&sha256[..])
            .execute(&mut *savepoint)
            .await;
        match addressed {
            Ok(_) => {
                savepoint.commit().await?;
                Ok(self.written(pending.id, sha256, false))
            }
            Err(sqlx::Error::Database(error)) if error.constraint() == Some("blobs_sha256_key") => {
                // A concurrent upload of the same matrix committed first.
                savepoint.rollback().await?;
                discard(&mut self.tx, pending.id).await?;
                let id = find(&mut self.tx, &sha256)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("deduplicated blob vanished".into()))?;
                Ok(self.written(id, sha256, true))
            }
            Err(error) => Err(error.into()),
        }
    }

    fn written(self, id: i64, sha256: [u8; 32], deduplicated: bool) -> WrittenBlob {
        WrittenBlob {
            tx: self.tx,
            id,
            sha256,
            deduplicated,
        }
    }
}

async fn find(tx: &mut PgConnection, sha256: &[u8; 32]) -> Result<Option<i64>, StoreError> {
    // FOR KEY SHARE keeps a concurrent delete from removing the blob before we reference it.
    Ok(
        sqlx::query_scalar("SELECT id FROM blobs WHERE sha256 = $1 FOR KEY SHARE")
            .bind(&sha256[..])
            .fetch_optional(&mut *tx)
            .await?,
    )
}

async fn discard(tx: &mut PgConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM blobs WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Deletes those of `ids` that no representation and no model's outputs refer to any more (the
/// same matrix may be stored as both).
pub async fn delete_unreferenced(tx: &mut PgConnection, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM blobs b WHERE b.id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM representations r WHERE r.blob_id = b.id)
           AND NOT EXISTS (SELECT 1 FROM model_outputs o WHERE o.blob_id = b.id)",
    )
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Shape and dtype of a stored blob.
pub async fn info(db: &PgPool, id: i64) -> Result<MatrixInfo, StoreError> {
    let (dtype, rows, cols): (String, i64, i64) =
        sqlx::query_as("SELECT dtype, n_rows, n_cols FROM blobs WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .ok_or_else(|| StoreError::not_found("blob", id))?;
    let dtype = Dtype::from_name(&dtype)
        .ok_or_else(|| StoreError::Corrupt(format!("blob {id} has unknown dtype {dtype}")))?;
    Ok(MatrixInfo {
        dtype,
        rows: rows as usize,
        cols: cols as usize,
    })
}

/// One chunk of a blob's canonical data, `None` past the last.
pub async fn read_chunk(db: &PgPool, id: i64, seq: i32) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2")
            .bind(id)
            .bind(seq)
            .fetch_optional(db)
            .await?,
    )
}

/// A whole blob in memory.
pub async fn read(db: &PgPool, id: i64) -> Result<CanonicalMatrix, StoreError> {
    let info = info(db, id).await?;
    let mut data = Vec::with_capacity(info.byte_len() as usize);
    let mut seq = 0;
    while let Some(chunk) = read_chunk(db, id, seq).await? {
        data.extend_from_slice(&chunk);
        seq += 1;
    }
    if data.len() as u64 != info.byte_len() {
        return Err(StoreError::Corrupt(format!(
            "blob {id} holds {} bytes, expected {}",
            data.len(),
            info.byte_len()
        )));
    }
    Ok(CanonicalMatrix {
        dtype: info.dtype,
        rows: info.rows,
        cols: info.cols,
        data,
    })
}

/// Stores an in-memory matrix whose content address is `sha256`; returns the blob with the
/// transaction that wrote it.
pub async fn write(
    db: &PgPool,
    matrix: &CanonicalMatrix,
    sha256: [u8; 32],
) -> Result<WrittenBlob, StoreError> {
    let mut writer = BlobWriter::begin(db).await?;
    writer.start(matrix.info()).await?;
    for chunk in matrix.data.chunks(crate::matrix::CHUNK_BYTES) {
        writer.write(chunk.to_vec()).await?;
    }
    writer.finish(sha256).await
}
