//! Incremental decoding of an upload body into canonical chunks.
//!
//! Bytes are pushed as they arrive from the network; canonical data (little-endian, row-major,
//! in the stored dtype) comes out in pieces of [`CHUNK_BYTES`], so a C-ordered upload of any size
//! is converted, checked and stored with a few chunks of memory. A Fortran-ordered array has to
//! be held whole before its first row is known; it is transposed lazily, one chunk at a time.

use std::collections::VecDeque;

use super::error::MatrixError;
use super::npy::{self, MAGIC, SourceType};
use super::safetensors::{self, TensorLocation, looks_like_safetensors};
use super::{CHUNK_BYTES, Dtype};

/// What the header of a body announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixInfo {
    pub dtype: Dtype,
    pub rows: usize,
    pub cols: usize,
}

impl MatrixInfo {
    /// Size of the canonical data in bytes.
    pub fn byte_len(&self) -> u64 {
        self.rows as u64 * self.cols as u64 * self.dtype.item_size() as u64
    }
}

/// Turns a `.npy` or safetensors byte stream into canonical chunks.
pub struct MatrixDecoder {
    tensor: Option<String>,
    stage: Stage,
    ready: VecDeque<Vec<u8>>,
}

enum Stage {
    /// Collecting bytes until the format and header are known.
    Prefix(Vec<u8>),
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
    /// A Fortran-ordered array, read whole, handed out row-major chunk by chunk.
    Transposing(Transpose),
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

struct Transpose {
    column_major: Vec<u8>,
    info: MatrixInfo,
    next_row: usize,
}

impl MatrixDecoder {
    /// `tensor` names the tensor to take from a safetensors file holding several.
    pub fn new(tensor: Option<String>) -> MatrixDecoder {
        MatrixDecoder {
            tensor,
            stage: Stage::Prefix(Vec::new()),
            ready: VecDeque::new(),
        }
    }

    /// Shape and stored dtype, as soon as the header has been read.
    pub fn info(&self) -> Option<MatrixInfo> {
        match &self.stage {
            Stage::Prefix(_) | Stage::Failed => None,
            Stage::Skipping { body, .. } | Stage::Body(body) => Some(body.info),
            Stage::Trailer { info, .. } | Stage::Done { info, .. } => Some(*info),
            Stage::Transposing(transpose) => Some(transpose.info),
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
            Stage::Transposing(transpose) => transpose.next_chunk(),
            _ => None,
        }
    }

    /// Declares the end of the body: checks that it was complete and releases the last chunk.
    pub fn finish(&mut self) -> Result<MatrixInfo, MatrixError> {
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        let info = match stage {
            Stage::Prefix(bytes) if bytes.is_empty() => {
                return Err(MatrixError::UnknownFormat {
                    starts_with: "nothing: the body is empty".into(),
                });
            }
            Stage::Prefix(bytes) => return Err(incomplete_prefix(&bytes)),
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
            Stage::Done { extra, .. } if extra > 0 => {
                return Err(MatrixError::TrailingBytes { extra });
            }
            Stage::Done { info, .. } => info,
            Stage::Transposing(transpose) => {
                let info = transpose.info;
                self.stage = Stage::Transposing(transpose);
                return Ok(info);
            }
            Stage::Failed => {
                return Err(MatrixError::Io("the decoder already failed".into()));
            }
        };
        self.stage = Stage::Done { info, extra: 0 };
        Ok(info)
    }

    fn consume(&mut self, mut input: &[u8]) -> Result<(), MatrixError> {
        while !input.is_empty() {
            match &mut self.stage {
                Stage::Prefix(buffer) => {
                    buffer.extend_from_slice(input);
                    input = &[];
                    let buffer = std::mem::take(buffer);
                    match self.read_header(&buffer)? {
                        Some((next, rest_at)) => {
                            self.stage = next;
                            self.consume(&buffer[rest_at..])?;
                        }
                        None => self.stage = Stage::Prefix(buffer),
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
                Stage::Done { extra, .. } => {
                    *extra += input.len() as u64;
                    input = &[];
                }
                Stage::Transposing(_) | Stage::Failed => {
                    return Err(MatrixError::Io(
                        "bytes pushed after the end of the matrix".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Recognises the format and parses the header; returns the next stage and where its bytes
    /// start in `buffer`, or `None` while the header is incomplete.
    fn read_header(&self, buffer: &[u8]) -> Result<Option<(Stage, usize)>, MatrixError> {
        if buffer.len() >= MAGIC.len() && buffer.starts_with(MAGIC) {
            let Some(header) = npy::parse_header(buffer)? else {
                return Ok(None);
            };
            let body = Body::new(
                header.source,
                header.big_endian,
                header.fortran_order,
                header.rows,
                header.cols,
                0,
            )?;
            return Ok(Some((Stage::Body(body), header.data_offset)));
        }
        if buffer.len() < 9 {
            return Ok(None);
        }
        if !looks_like_safetensors(buffer) {
            return Err(MatrixError::UnknownFormat {
                starts_with: describe_prefix(buffer),
            });
        }
        let Some(TensorLocation {
            source,
            rows,
            cols,
            data_start,
            bytes_after,
        }) = safetensors::locate_tensor(buffer, self.tensor.as_deref())?
        else {
            return Ok(None);
        };
        let header_end = 8 + u64::from_le_bytes(buffer[..8].try_into().expect("8 bytes"));
        let body = Body::new(source, false, false, rows, cols, bytes_after)?;
        let before = data_start - header_end;
        let stage = if before == 0 {
            Stage::Body(body)
        } else {
            Stage::Skipping {
                remaining: before,
                body,
            }
        };
        Ok(Some((stage, header_end as usize)))
    }
}

impl Body {
    fn new(
        source: SourceType,
        big_endian: bool,
        fortran_order: bool,
        rows: usize,
        cols: usize,
        trailer: u64,
    ) -> Result<Body, MatrixError> {
        let info = MatrixInfo {
            dtype: source.stored_as(),
            rows,
            cols,
        };
        let elements_total = (rows as u64)
            .checked_mul(cols as u64)
            .filter(|total| total.checked_mul(8).is_some())
            .ok_or_else(|| MatrixError::TooLarge(format!("{rows} x {cols} elements")))?;
        let out = if fortran_order {
            let bytes = usize::try_from(info.byte_len())
                .map_err(|_| MatrixError::TooLarge(format!("{rows} x {cols} elements")))?;
            Vec::with_capacity(bytes)
        } else {
            Vec::with_capacity(CHUNK_BYTES.min(info.byte_len() as usize))
        };
        Ok(Body {
            source,
            big_endian,
            fortran_order,
            info,
            elements_total,
            elements_seen: 0,
            carry: Vec::new(),
            out,
            trailer,
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
    /// non-finite one.
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
            return Err(MatrixError::NonFinite {
                value: describe_non_finite(value),
                row: (index / cols) as usize,
                column: (index % cols) as usize,
            });
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
        let stage_after = |trailer: u64| {
            if trailer == 0 {
                Stage::Done { info, extra: 0 }
            } else {
                Stage::Trailer {
                    remaining: trailer,
                    info,
                }
            }
        };
        if !self.fortran_order {
            if !self.out.is_empty() {
                ready.push_back(self.out);
            }
            return Ok(stage_after(self.trailer));
        }
        first_non_finite_column_major(&self.out, info)?;
        Ok(Stage::Transposing(Transpose {
            column_major: self.out,
            info,
            next_row: 0,
        }))
    }
}

impl Transpose {
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        let MatrixInfo { rows, cols, dtype } = self.info;
        if self.next_row == rows {
            self.column_major = Vec::new();
            return None;
        }
        let item = dtype.item_size();
        let row_bytes = cols * item;
        let rows_per_chunk = (CHUNK_BYTES / row_bytes).max(1);
        let end_row = (self.next_row + rows_per_chunk).min(rows);
        let mut chunk = Vec::with_capacity((end_row - self.next_row) * row_bytes);
        for row in self.next_row..end_row {
            for col in 0..cols {
                let at = (col * rows + row) * item;
                chunk.extend_from_slice(&self.column_major[at..at + item]);
            }
        }
        self.next_row = end_row;
        Some(chunk)
    }
}

/// Reports the first non-finite element in row-major order of a column-major array.
fn first_non_finite_column_major(data: &[u8], info: MatrixInfo) -> Result<(), MatrixError> {
    let item = info.dtype.item_size();
    let mut first: Option<(usize, usize, f64)> = None;
    for (index, bytes) in data.chunks_exact(item).enumerate() {
        let value = widen(info.dtype, bytes);
        if value.is_finite() {
            continue;
        }
        let (row, column) = (index % info.rows, index / info.rows);
        if first.is_none_or(|(r, c, _)| (row, column) < (r, c)) {
            first = Some((row, column, value));
        }
    }
    match first {
        Some((row, column, value)) => Err(MatrixError::NonFinite {
            value: describe_non_finite(value),
            row,
            column,
        }),
        None => Ok(()),
    }
}

fn widen(dtype: Dtype, bytes: &[u8]) -> f64 {
    match dtype {
        Dtype::Float16 => half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f64(),
        Dtype::Float32 => f64::from(f32::from_le_bytes(bytes.try_into().expect("4 bytes"))),
        Dtype::Float64 => f64::from_le_bytes(bytes.try_into().expect("8 bytes")),
    }
}

/// Appends the little-endian stored form of each element of `input` to `out`. With `check`,
/// stops at the first non-finite element and returns its index and value.
fn convert_elements(
    source: SourceType,
    big_endian: bool,
    input: &[u8],
    out: &mut Vec<u8>,
    check: bool,
) -> Option<(usize, f64)> {
    macro_rules! each {
        ($width:literal, $bits:ty, |$raw:ident| $emit:expr, |$val:ident| $finite:expr, $as_f64:expr) => {
            for (index, bytes) in input.chunks_exact($width).enumerate() {
                let array: [u8; $width] = bytes.try_into().expect("whole elements");
                let $raw: $bits = if big_endian {
                    <$bits>::from_be_bytes(array)
                } else {
                    <$bits>::from_le_bytes(array)
                };
                let $val = $emit;
                if check && !$finite {
                    return Some((index, $as_f64));
                }
                out.extend_from_slice(&$val.to_le_bytes());
            }
        };
    }
    match source {
        SourceType::Float16 => {
            each!(
                2,
                u16,
                |raw| half::f16::from_bits(raw),
                |v| v.is_finite(),
                v.to_f64()
            )
        }
        SourceType::BFloat16 => each!(
            2,
            u16,
            |raw| f32::from_bits(u32::from(raw) << 16),
            |v| v.is_finite(),
            f64::from(v)
        ),
        SourceType::Float32 => {
            each!(
                4,
                u32,
                |raw| f32::from_bits(raw),
                |v| v.is_finite(),
                f64::from(v)
            )
        }
        SourceType::Float64 => each!(8, u64, |raw| f64::from_bits(raw), |v| v.is_finite(), v),
    }
    None
}

fn describe_non_finite(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

fn incomplete_prefix(bytes: &[u8]) -> MatrixError {
    if bytes.starts_with(&MAGIC[..bytes.len().min(MAGIC.len())]) {
        MatrixError::MalformedNpy("the body ends inside the .npy header".into())
    } else if bytes.len() >= 9 && looks_like_safetensors(bytes) {
        MatrixError::MalformedSafetensors("the body ends inside the header".into())
    } else {
        MatrixError::UnknownFormat {
            starts_with: describe_prefix(bytes),
        }
    }
}

/// The first bytes of an unrecognised body, with a guess at what it is.
fn describe_prefix(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(16)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    let guess = if bytes.starts_with(b"PK\x03\x04") {
        " (a zip archive: numpy.savez or torch.save output; send one array saved with numpy.save)"
    } else if bytes.first() == Some(&0x80) {
        " (a Python pickle; send the array saved with numpy.save)"
    } else if bytes.first().is_some_and(|b| b"[{0123456789-".contains(b)) {
        " (text; send the array saved with numpy.save)"
    } else {
        ""
    };
    format!("b\"{shown}\"{guess}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{CanonicalMatrix, npy_header, read_matrix};

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

    fn f32_bytes(values: &[f32], big_endian: bool) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| {
                if big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            })
            .collect()
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
