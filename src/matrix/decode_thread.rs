//! The decoder on a blocking thread. The async side only moves bytes: it hands the body over in
//! pieces through one bounded channel and takes canonical chunks back through another, while
//! conversion, finiteness checks, the Fortran-order transpose and the SHA-256 content address
//! are computed on the thread. Both channels are bounded, so a slow database slows the thread,
//! which slows the reading of the body: memory stays at a few chunks whatever the upload's size.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::decoder::MatrixDecoder;
use super::error::MatrixError;
use super::{ContentHasher, MatrixInfo};

/// Body pieces waiting for the thread. An HTTP/1 body frame is at most hyper's read buffer
/// (about 400 KiB), so this holds a few MiB at most.
const QUEUED_PIECES: usize = 8;

/// Canonical chunks waiting to be stored, beyond the one being stored and the one being filled.
const QUEUED_CHUNKS: usize = 1;

enum BodyPiece {
    Bytes(Bytes),
    End,
}

/// What the thread reports, in this order: the header, the canonical chunks, then the verdict.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// The header has been read: what the matrix will be.
    Header(MatrixInfo),
    /// The next canonical chunk.
    Chunk(Vec<u8>),
    /// The body was complete and valid; `sha256` is the matrix's content address.
    Finished { info: MatrixInfo, sha256: [u8; 32] },
}

/// The thread no longer takes bytes: it refused the body (its output says why), or the output
/// was dropped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the decoder has stopped")]
pub struct DecoderStopped;

/// Where the body goes. Dropping it before [`BodyFeed::end`] abandons the body: the thread stops
/// without a verdict.
pub struct BodyFeed {
    pieces: mpsc::Sender<BodyPiece>,
}

impl BodyFeed {
    /// Hands over the next bytes of the body, waiting while the thread is behind.
    pub async fn push(&self, bytes: Bytes) -> Result<(), DecoderStopped> {
        self.pieces
            .send(BodyPiece::Bytes(bytes))
            .await
            .map_err(|_| DecoderStopped)
    }

    /// Declares the end of the body; the verdict follows on the output.
    pub async fn end(self) -> Result<(), DecoderStopped> {
        self.pieces
            .send(BodyPiece::End)
            .await
            .map_err(|_| DecoderStopped)
    }
}

/// What comes back from the thread.
pub struct DecoderOutput {
    events: mpsc::Receiver<Result<Decoded, MatrixError>>,
}

impl DecoderOutput {
    /// The next report; `None` once the thread has ended: after `Finished` or an error, or when
    /// the body was abandoned. Dropping the output stops the thread.
    pub async fn next(&mut self) -> Option<Result<Decoded, MatrixError>> {
        self.events.recv().await
    }
}

/// Starts decoding a body on a blocking thread of the current Tokio runtime. `tensor` names the
/// tensor to take from a safetensors file holding several.
pub fn spawn_decoder(tensor: Option<String>) -> (BodyFeed, DecoderOutput) {
    let (pieces, pieces_rx) = mpsc::channel(QUEUED_PIECES);
    let (events_tx, events) = mpsc::channel(QUEUED_CHUNKS);
    let thread = DecodeThread {
        decoder: MatrixDecoder::new(tensor),
        hasher: None,
        events: events_tx,
    };
    tokio::task::spawn_blocking(move || thread.run(pieces_rx));
    (BodyFeed { pieces }, DecoderOutput { events })
}

struct DecodeThread {
    decoder: MatrixDecoder,
    /// Started with the header.
    hasher: Option<ContentHasher>,
    events: mpsc::Sender<Result<Decoded, MatrixError>>,
}

/// Why the thread ends before its verdict.
enum Halt {
    Refused(MatrixError),
    /// The body or the output was dropped: nobody is waiting for a verdict.
    Abandoned,
}

impl From<MatrixError> for Halt {
    fn from(error: MatrixError) -> Halt {
        Halt::Refused(error)
    }
}

impl DecodeThread {
    fn run(mut self, mut pieces: mpsc::Receiver<BodyPiece>) {
        let verdict = match self.decode(&mut pieces) {
            Ok(finished) => Ok(finished),
            Err(Halt::Refused(error)) => Err(error),
            Err(Halt::Abandoned) => return,
        };
        // The output may have gone meanwhile; then nobody needs the verdict.
        let _ = self.events.blocking_send(verdict);
    }

    fn decode(&mut self, pieces: &mut mpsc::Receiver<BodyPiece>) -> Result<Decoded, Halt> {
        loop {
            if self.events.is_closed() {
                return Err(Halt::Abandoned);
            }
            match pieces.blocking_recv() {
                Some(BodyPiece::Bytes(bytes)) => {
                    self.decoder.push(&bytes)?;
                    self.emit()?;
                }
                Some(BodyPiece::End) => break,
                None => return Err(Halt::Abandoned),
            }
        }
        let info = self.decoder.finish()?;
        self.emit()?;
        let hasher = self
            .hasher
            .take()
            .ok_or_else(|| MatrixError::Io("the body ended without a header".into()))?;
        Ok(Decoded::Finished {
            info,
            sha256: hasher.finish(),
        })
    }

    /// Reports the header once it is known, then every chunk ready so far.
    fn emit(&mut self) -> Result<(), Halt> {
        if self.hasher.is_none()
            && let Some(info) = self.decoder.info()
        {
            self.hasher = Some(ContentHasher::new(info));
            self.send(Decoded::Header(info))?;
        }
        while let Some(chunk) = self.decoder.next_chunk() {
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&chunk);
            }
            self.send(Decoded::Chunk(chunk))?;
        }
        Ok(())
    }

    fn send(&self, event: Decoded) -> Result<(), Halt> {
        self.events
            .blocking_send(Ok(event))
            .map_err(|_| Halt::Abandoned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{CanonicalMatrix, Dtype, npy_header};

    fn f64_matrix(rows: usize, cols: usize) -> CanonicalMatrix {
        let values = ndarray::Array2::from_shape_fn((rows, cols), |(r, c)| (r * cols + c) as f64);
        CanonicalMatrix::from_f64(&values)
    }

    /// Sends `body` in pieces of `piece` bytes, ends it, and collects every report.
    async fn decode(body: &[u8], piece: usize) -> Vec<Result<Decoded, MatrixError>> {
        let (feed, mut output) = spawn_decoder(None);
        let pieces: Vec<Bytes> = body.chunks(piece).map(Bytes::copy_from_slice).collect();
        let send = async move {
            for bytes in pieces {
                if feed.push(bytes).await.is_err() {
                    return;
                }
            }
            let _ = feed.end().await;
        };
        let collect = async move {
            let mut reports = Vec::new();
            while let Some(report) = output.next().await {
                reports.push(report);
            }
            reports
        };
        tokio::join!(send, collect).1
    }

    #[tokio::test]
    async fn reports_header_chunks_and_the_content_address() {
        // 1100 x 1000 float64: 8.8 MB, two chunks.
        let matrix = f64_matrix(1100, 1000);
        let reports = decode(&matrix.to_npy(), 100_000).await;
        let info = matrix.info();
        assert_eq!(reports.first(), Some(&Ok(Decoded::Header(info))));
        let chunks: Vec<u8> = reports[1..reports.len() - 1]
            .iter()
            .flat_map(|report| match report {
                Ok(Decoded::Chunk(chunk)) => chunk.clone(),
                other => panic!("expected a chunk, got {other:?}"),
            })
            .collect();
        assert_eq!(reports.len(), 4, "header, two chunks, verdict");
        assert_eq!(chunks, matrix.data);
        assert_eq!(
            reports.last(),
            Some(&Ok(Decoded::Finished {
                info,
                sha256: matrix.sha256()
            }))
        );
    }

    #[tokio::test]
    async fn a_refused_body_ends_with_its_error() {
        let mut file = npy_header(Dtype::Float32, 2, 2);
        file.extend_from_slice(&[0u8; 12]);
        let reports = decode(&file, 5).await;
        assert_eq!(
            reports.last(),
            Some(&Err(MatrixError::Truncated {
                expected: 16,
                received: 12
            }))
        );
        let reports = decode(b"PK\x03\x04 not a matrix", 4).await;
        assert_eq!(reports.len(), 1);
        assert_eq!(
            reports[0].as_ref().unwrap_err().code(),
            "unknown_matrix_format"
        );
    }

    #[tokio::test]
    async fn an_abandoned_body_ends_the_thread_without_a_verdict() {
        let matrix = f64_matrix(40, 30);
        let file = matrix.to_npy();
        let (feed, mut output) = spawn_decoder(None);
        feed.push(Bytes::copy_from_slice(&file[..200]))
            .await
            .unwrap();
        drop(feed);
        assert_eq!(
            output.next().await,
            Some(Ok(Decoded::Header(matrix.info())))
        );
        assert_eq!(output.next().await, None);
    }

    #[tokio::test]
    async fn a_dropped_output_stops_the_thread_and_refuses_more_bytes() {
        let file = f64_matrix(2000, 1000).to_npy();
        let (feed, output) = spawn_decoder(None);
        drop(output);
        let mut refused = false;
        for piece in file.chunks(1 << 20) {
            if feed.push(Bytes::copy_from_slice(piece)).await == Err(DecoderStopped) {
                refused = true;
                break;
            }
        }
        assert!(refused, "a 16 MB body cannot fit in the queues");
    }
}
