//! The streaming decoder: bytes are pushed as they arrive; canonical data (little-endian,
//! row-major, in the stored dtype) comes out in pieces of [`CHUNK_BYTES`], so a C-ordered upload
//! of any size is converted, checked and stored with a few chunks of memory. It ties together
//! format detection and header reading (`format`), element conversion (`convert`) and the
//! Fortran-order transpose (`transpose`).

use std::collections::VecDeque;

use super::convert::{SourceType, convert_elements, non_finite};
use super::error::MatrixError;
use super::format::{self, Layout};
use super::transpose::RowMajorChunks;
use super::{CHUNK_BYTES, MatrixInfo};

/// Turns a `.npy` or safetensors byte stream into canonical chunks.
pub struct MatrixDecoder {
    tensor: Option<String>,
    stage: Stage,
    ready: VecDeque<Vec<u8>>,
}

enum Stage {
    /// Collecting bytes until the format and header are known.
    Header(Vec<u8>),
    /// Safetensors: other tensors stored before the chosen one.
    Skipping {
        remaining: u64,
        body: Body,
    },
    Body(Body),
    /// Safetensors: other tensors stored after the chosen one.
    Trailer {
        remaining: u64,
        info: MatrixInfo,
    },
    /// All data read; counts anything that still arrives.
    Done {
        info: MatrixInfo,
        extra: u64,
    },
    /// A Fortran-ordered array, read whole, handed out row-major chunk by chunk; counts anything
    /// that still arrives.
    Transposing {
        chunks: RowMajorChunks,
        extra: u64,
    },
    Failed,
}

struct Body {
    source: SourceType,
    big_endian: bool,
    fortran_order: bool,
    info: MatrixInfo,
    elements_total: u64,
    elements_seen: u64,
    /// The start of an element split across two pushes.
    carry: Vec<u8>,
    /// Row-major: the chunk being filled. Fortran order: the whole array.
    out: Vec<u8>,
    trailer: u64,
}

impl MatrixDecoder {
    /// `tensor` names the tensor to take from a safetensors file holding several.
    pub fn new(tensor: Option<String>) -> MatrixDecoder {
        MatrixDecoder {
            tensor,
            stage: Stage::Header(Vec::new()),
            ready: VecDeque::new(),
        }
    }

    /// Shape and stored dtype, as soon as the header has been read.
    pub fn info(&self) -> Option<MatrixInfo> {
        match &self.stage {
            Stage::Header(_) | Stage::Failed => None,
            Stage::Skipping { body, .. } | Stage::Body(body) => Some(body.info),
            Stage::Trailer { info, .. } | Stage::Done { info, .. } => Some(*info),
            Stage::Transposing { chunks, .. } => Some(chunks.info()),
        }
    }

    /// Feeds the next bytes of the body. After an error the decoder accepts nothing more.
    pub fn push(&mut self, input: &[u8]) -> Result<(), MatrixError> {
        let result = self.consume(input);
        if result.is_err() {
            self.stage = Stage::Failed;
        }
        result
    }

    /// The next complete canonical chunk, in order.
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if let Some(chunk) = self.ready.pop_front() {
            return Some(chunk);
        }
        match &mut self.stage {
            Stage::Transposing { chunks, .. } => chunks.next_chunk(),
            _ => None,
        }
    }

    /// Declares the end of the body: checks that it was complete and releases the last chunk.
    pub fn finish(&mut self) -> Result<MatrixInfo, MatrixError> {
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        let info = match stage {
            Stage::Header(bytes) => return Err(format::incomplete_header(&bytes)),
            Stage::Skipping { body, .. } => {
                return Err(MatrixError::Truncated {
                    expected: body.info.byte_len(),
                    received: 0,
                });
            }
            Stage::Body(body) => {
                let source_bytes = body.source.item_size() as u64;
                return Err(MatrixError::Truncated {
                    expected: body.elements_total * source_bytes,
                    received: body.elements_seen * source_bytes + body.carry.len() as u64,
                });
            }
            Stage::Trailer { remaining, .. } => {
                return Err(MatrixError::Truncated {
                    expected: remaining,
                    received: 0,
                });
            }
            Stage::Done { extra, .. } | Stage::Transposing { extra, .. } if extra > 0 => {
                return Err(MatrixError::TrailingBytes { extra });
            }
            Stage::Done { info, .. } => info,
            Stage::Transposing { chunks, extra } => {
                let info = chunks.info();
                self.stage = Stage::Transposing { chunks, extra };
                return Ok(info);
            }
            Stage::Failed => return Err(already_failed()),
        };
        self.stage = Stage::Done { info, extra: 0 };
        Ok(info)
    }

    fn consume(&mut self, mut input: &[u8]) -> Result<(), MatrixError> {
        while !input.is_empty() {
            match &mut self.stage {
                Stage::Header(buffer) => {
                    buffer.extend_from_slice(input);
                    input = &[];
                    let buffer = std::mem::take(buffer);
                    match format::read_header(&buffer, self.tensor.as_deref())? {
                        Some(layout) => {
                            let data_at = layout.header_len;
                            self.stage = Stage::after_header(layout)?;
                            self.consume(&buffer[data_at..])?;
                        }
                        None => self.stage = Stage::Header(buffer),
                    }
                }
                Stage::Skipping { remaining, .. } => {
                    let take = (*remaining).min(input.len() as u64);
                    *remaining -= take;
                    input = &input[take as usize..];
                    if *remaining == 0 {
                        let Stage::Skipping { body, .. } =
                            std::mem::replace(&mut self.stage, Stage::Failed)
                        else {
                            unreachable!("matched above")
                        };
                        self.stage = Stage::Body(body);
                    }
                }
                Stage::Body(body) => {
                    let used = body.take(input, &mut self.ready)?;
                    input = &input[used..];
                    if body.elements_seen == body.elements_total {
                        let Stage::Body(body) = std::mem::replace(&mut self.stage, Stage::Failed)
                        else {
                            unreachable!("matched above")
                        };
                        self.stage = body.complete(&mut self.ready)?;
                    }
                }
                Stage::Trailer { remaining, info } => {
                    let take = (*remaining).min(input.len() as u64);
                    *remaining -= take;
                    input = &input[take as usize..];
                    if *remaining == 0 {
                        self.stage = Stage::Done {
                            info: *info,
                            extra: 0,
                        };
                    }
                }
                Stage::Done { extra, .. } | Stage::Transposing { extra, .. } => {
                    *extra += input.len() as u64;
                    input = &[];
                }
                Stage::Failed => return Err(already_failed()),
            }
        }
        Ok(())
    }
}

fn already_failed() -> MatrixError {
    MatrixError::Io("the decoder already failed".into())
}

impl Stage {
    fn after_header(layout: Layout) -> Result<Stage, MatrixError> {
        let before = layout.bytes_before;
        let body = Body::new(layout)?;
        Ok(if before == 0 {
            Stage::Body(body)
        } else {
            Stage::Skipping {
                remaining: before,
                body,
            }
        })
    }
}

impl Body {
    fn new(layout: Layout) -> Result<Body, MatrixError> {
        let Layout { rows, cols, .. } = layout;
        let info = MatrixInfo {
            dtype: layout.source.stored_as(),
            rows,
            cols,
        };
        let elements_total = (rows as u64)
            .checked_mul(cols as u64)
            .filter(|total| total.checked_mul(8).is_some())
            .ok_or_else(|| MatrixError::TooLarge(format!("{rows} x {cols} elements")))?;
        if layout.fortran_order && usize::try_from(info.byte_len()).is_err() {
            return Err(MatrixError::TooLarge(format!("{rows} x {cols} elements")));
        }
        // Only what has arrived is allocated: a header may announce more than the body holds.
        let first_piece = CHUNK_BYTES.min(info.byte_len() as usize);
        Ok(Body {
            source: layout.source,
            big_endian: layout.big_endian,
            fortran_order: layout.fortran_order,
            info,
            elements_total,
            elements_seen: 0,
            carry: Vec::new(),
            out: Vec::with_capacity(first_piece),
            trailer: layout.bytes_after,
        })
    }

    /// Converts as many whole elements of `input` as belong to the matrix; returns the number of
    /// bytes used.
    fn take(&mut self, input: &[u8], ready: &mut VecDeque<Vec<u8>>) -> Result<usize, MatrixError> {
        let item = self.source.item_size();
        let mut used = 0;
        if !self.carry.is_empty() {
            let missing = item - self.carry.len();
            let take = missing.min(input.len());
            self.carry.extend_from_slice(&input[..take]);
            used += take;
            if self.carry.len() < item {
                return Ok(used);
            }
            let element = std::mem::take(&mut self.carry);
            self.convert(&element, ready)?;
        }
        let remaining_elements = self.elements_total - self.elements_seen;
        let whole = ((input.len() - used) / item).min(remaining_elements as usize);
        let mut start = used;
        let end = used + whole * item;
        // Convert in slices that fit the current output chunk, so chunks are emitted on time.
        while start < end {
            let room = if self.fortran_order {
                end - start
            } else {
                let free_elements = (CHUNK_BYTES - self.out.len()) / self.info.dtype.item_size();
                (free_elements.max(1) * item).min(end - start)
            };
            self.convert(&input[start..start + room], ready)?;
            start += room;
        }
        used = end;
        if self.elements_seen < self.elements_total && used < input.len() {
            let partial = input.len() - used;
            debug_assert!(partial < item);
            self.carry.extend_from_slice(&input[used..]);
            used = input.len();
        }
        Ok(used)
    }

    /// Appends the canonical form of whole elements; in row-major order, stops at the first
    /// non-finite one (a column-major array is checked whole once complete).
    fn convert(
        &mut self,
        elements: &[u8],
        ready: &mut VecDeque<Vec<u8>>,
    ) -> Result<(), MatrixError> {
        let first_index = self.elements_seen;
        let check = !self.fortran_order;
        let bad = convert_elements(self.source, self.big_endian, elements, &mut self.out, check);
        if let Some((offset, value)) = bad {
            let index = first_index + offset as u64;
            let cols = self.info.cols as u64;
            return Err(non_finite(
                value,
                (index / cols) as usize,
                (index % cols) as usize,
            ));
        }
        self.elements_seen += (elements.len() / self.source.item_size()) as u64;
        if !self.fortran_order && self.out.len() >= CHUNK_BYTES {
            let capacity = CHUNK_BYTES.min(self.remaining_bytes() as usize);
            ready.push_back(std::mem::replace(
                &mut self.out,
                Vec::with_capacity(capacity),
            ));
        }
        Ok(())
    }

    fn remaining_bytes(&self) -> u64 {
        (self.elements_total - self.elements_seen) * self.info.dtype.item_size() as u64
    }

    /// Called once every element has been read.
    fn complete(self, ready: &mut VecDeque<Vec<u8>>) -> Result<Stage, MatrixError> {
        let info = self.info;
        if self.fortran_order {
            return Ok(Stage::Transposing {
                chunks: RowMajorChunks::new(self.out, info)?,
                extra: 0,
            });
        }
        if !self.out.is_empty() {
            ready.push_back(self.out);
        }
        Ok(if self.trailer == 0 {
            Stage::Done { info, extra: 0 }
        } else {
            Stage::Trailer {
                remaining: self.trailer,
                info,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::npy::MAGIC;
    use crate::matrix::{CanonicalMatrix, Dtype, f32_bytes, npy_header, read_matrix};

    fn npy_file(descr: &str, fortran: bool, rows: usize, cols: usize, data: &[u8]) -> Vec<u8> {
        let order = if fortran { "True" } else { "False" };
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({rows}, {cols}), }}\n"
        );
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn decode_in_pieces(bytes: &[u8], piece: usize) -> Result<CanonicalMatrix, MatrixError> {
        let mut decoder = MatrixDecoder::new(None);
        let mut data = Vec::new();
        for part in bytes.chunks(piece) {
            decoder.push(part)?;
            while let Some(chunk) = decoder.next_chunk() {
                data.extend(chunk);
            }
        }
        let info = decoder.finish()?;
        while let Some(chunk) = decoder.next_chunk() {
            data.extend(chunk);
        }
        Ok(CanonicalMatrix {
            dtype: info.dtype,
            rows: info.rows,
            cols: info.cols,
            data,
        })
    }

    #[test]
    fn any_split_of_the_body_gives_the_same_matrix() {
        let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        let file = npy_file("<f4", false, 3, 4, &f32_bytes(&values, false));
        for piece in [1, 3, 7, 64, file.len()] {
            let matrix = decode_in_pieces(&file, piece).unwrap();
            assert_eq!(
                (matrix.rows, matrix.cols, matrix.dtype),
                (3, 4, Dtype::Float32)
            );
            assert_eq!(matrix.data, f32_bytes(&values, false), "piece {piece}");
        }
    }

    #[test]
    fn fortran_and_big_endian_become_canonical() {
        // Row-major [[1, 2, 3], [4, 5, 6]] stored column by column, big-endian.
        let column_major = f32_bytes(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], true);
        let file = npy_file(">f4", true, 2, 3, &column_major);
        let matrix = decode_in_pieces(&file, 5).unwrap();
        assert_eq!(
            matrix.data,
            f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], false)
        );
        let expected = CanonicalMatrix {
            dtype: Dtype::Float32,
            rows: 2,
            cols: 3,
            data: f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], false),
        };
        assert_eq!(matrix.sha256(), expected.sha256());
    }

    #[test]
    fn non_finite_is_located_in_row_major_order() {
        let mut values = vec![0.0f32; 12];
        values[6] = f32::NAN; // row 1, column 2 of a 3 x 4 matrix
        values[9] = f32::INFINITY;
        let file = npy_file("<f4", false, 3, 4, &f32_bytes(&values, false));
        let error = decode_in_pieces(&file, 5).unwrap_err();
        assert_eq!(
            error,
            MatrixError::NonFinite {
                value: "NaN".into(),
                row: 1,
                column: 2
            }
        );

        // Column-major: element (2, 0) comes first in memory, (0, 1) first in row-major order.
        let mut column_major = vec![1.0f32; 6];
        column_major[2] = f32::NEG_INFINITY; // (row 0, column 1) of a 2 x 3 matrix
        column_major[1] = f32::NAN; // (row 1, column 0)
        let file = npy_file("<f4", true, 2, 3, &f32_bytes(&column_major, false));
        let error = decode_in_pieces(&file, 4).unwrap_err();
        assert_eq!(
            error,
            MatrixError::NonFinite {
                value: "-inf".into(),
                row: 0,
                column: 1
            }
        );
    }

    #[test]
    fn truncated_and_trailing_bodies_are_refused() {
        let file = npy_file("<f8", false, 2, 2, &[0u8; 32]);
        let error = decode_in_pieces(&file[..file.len() - 3], 10).unwrap_err();
        assert_eq!(
            error,
            MatrixError::Truncated {
                expected: 32,
                received: 29
            }
        );
        let mut longer = file.clone();
        longer.extend_from_slice(b"xyz");
        assert_eq!(
            decode_in_pieces(&longer, 10).unwrap_err(),
            MatrixError::TrailingBytes { extra: 3 }
        );
        assert_eq!(
            decode_in_pieces(&file[..5], 10).unwrap_err().code(),
            "malformed_npy"
        );
        assert_eq!(
            decode_in_pieces(&[], 10).unwrap_err().code(),
            "unknown_matrix_format"
        );
        let zip = b"PK\x03\x04 0123456789abcdef";
        let error = decode_in_pieces(zip, 10).unwrap_err();
        assert!(error.to_string().contains("zip archive"), "{error}");

        let mut fortran = npy_file("<f8", true, 2, 2, &[0u8; 32]);
        fortran.extend_from_slice(b"xy");
        assert_eq!(
            decode_in_pieces(&fortran, 10).unwrap_err(),
            MatrixError::TrailingBytes { extra: 2 }
        );
    }

    #[test]
    fn a_header_announcing_more_than_the_body_holds_is_truncated_not_allocated() {
        // 2^60 float64 elements (8 EiB): nothing that size may be reserved up front.
        for fortran in [false, true] {
            let file = npy_file("<f8", fortran, 1 << 30, 1 << 30, &[0u8; 64]);
            assert_eq!(
                decode_in_pieces(&file, 7).unwrap_err(),
                MatrixError::Truncated {
                    expected: 1 << 63,
                    received: 64
                },
                "fortran order: {fortran}"
            );
        }
        let file = npy_file("<f8", true, 1 << 33, 1 << 33, &[]);
        assert_eq!(
            decode_in_pieces(&file, 7).unwrap_err().code(),
            "matrix_too_large"
        );
    }

    #[test]
    fn float16_keeps_its_dtype_and_large_bodies_come_in_chunks() {
        let rows = 3000;
        let cols = 1500; // 9 MB of float16: more than one chunk
        let values: Vec<u8> = (0..rows * cols)
            .flat_map(|i| half::f16::from_f32((i % 97) as f32).to_le_bytes())
            .collect();
        let file = npy_file("<f2", false, rows, cols, &values);
        let mut decoder = MatrixDecoder::new(None);
        let mut chunks = Vec::new();
        for part in file.chunks(65536) {
            decoder.push(part).unwrap();
            chunks.extend(std::iter::from_fn(|| decoder.next_chunk()));
        }
        decoder.finish().unwrap();
        chunks.extend(std::iter::from_fn(|| decoder.next_chunk()));
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), CHUNK_BYTES);
        assert_eq!(chunks.concat(), values);
    }

    #[test]
    fn safetensors_picks_the_named_tensor() {
        use ::safetensors::tensor::{Dtype as TensorDtype, TensorView};
        let weights = f32_bytes(&[9.0; 4], false);
        let activations = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], false);
        let bf16: Vec<u8> = [1.0f32, -2.0]
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let tensors = [
            (
                "a_weights",
                TensorView::new(TensorDtype::F32, vec![2, 2], &weights).unwrap(),
            ),
            (
                "acts",
                TensorView::new(TensorDtype::F32, vec![3, 2], &activations).unwrap(),
            ),
            (
                "z_half",
                TensorView::new(TensorDtype::BF16, vec![1, 2], &bf16).unwrap(),
            ),
        ];
        let file = ::safetensors::tensor::serialize(tensors, None).unwrap();

        let matrix = read_matrix(file.as_slice(), Some("acts")).unwrap();
        assert_eq!((matrix.rows, matrix.cols), (3, 2));
        assert_eq!(matrix.data, activations);

        let brain = read_matrix(file.as_slice(), Some("z_half")).unwrap();
        assert_eq!(brain.dtype, Dtype::Float32);
        assert_eq!(brain.data, f32_bytes(&[1.0, -2.0], false));

        let error = read_matrix(file.as_slice(), None).unwrap_err();
        assert_eq!(error.code(), "ambiguous_tensor");
        assert!(error.to_string().contains("acts"));
        let error = read_matrix(file.as_slice(), Some("nope")).unwrap_err();
        assert_eq!(error.code(), "tensor_not_found");
    }

    #[test]
    fn canonical_header_is_what_numpy_writes() {
        let header = npy_header(Dtype::Float64, 2, 2);
        let mut file = header.clone();
        file.extend_from_slice(&[0u8; 32]);
        let matrix = read_matrix(file.as_slice(), None).unwrap();
        assert_eq!(matrix.to_npy(), file);
    }
}
