//! Recognising a body's format from its first bytes, and reading its header into the layout the
//! decoder follows.

use super::convert::SourceType;
use super::error::MatrixError;
use super::npy::{self, MAGIC};
use super::safetensors::{self, TensorLocation, looks_like_safetensors};

/// How the matrix lies in a body, as its header announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub source: SourceType,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub rows: usize,
    pub cols: usize,
    /// Bytes from the start of the body to the end of its header.
    pub header_len: usize,
    /// Bytes between the header and the matrix (other tensors of a safetensors file).
    pub bytes_before: u64,
    /// Bytes after the matrix (other tensors of a safetensors file).
    pub bytes_after: u64,
}

/// Recognises the format of a body starting with `prefix` and reads its header; `Ok(None)` while
/// the header is incomplete. `tensor` names the tensor to take from a safetensors file.
pub(crate) fn read_header(
    prefix: &[u8],
    tensor: Option<&str>,
) -> Result<Option<Layout>, MatrixError> {
    if prefix.len() >= MAGIC.len() && prefix.starts_with(MAGIC) {
        let Some(header) = npy::parse_header(prefix)? else {
            return Ok(None);
        };
        return Ok(Some(Layout {
            source: header.source,
            big_endian: header.big_endian,
            fortran_order: header.fortran_order,
            rows: header.rows,
            cols: header.cols,
            header_len: header.data_offset,
            bytes_before: 0,
            bytes_after: 0,
        }));
    }
    if prefix.len() < 9 {
        return Ok(None);
    }
    if !looks_like_safetensors(prefix) {
        return Err(MatrixError::UnknownFormat {
            starts_with: describe_prefix(prefix),
        });
    }
    let Some(TensorLocation {
        source,
        rows,
        cols,
        data_start,
        bytes_after,
    }) = safetensors::locate_tensor(prefix, tensor)?
    else {
        return Ok(None);
    };
    let header_len = 8 + u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes"));
    Ok(Some(Layout {
        source,
        big_endian: false,
        fortran_order: false,
        rows,
        cols,
        header_len: header_len as usize,
        bytes_before: data_start - header_len,
        bytes_after,
    }))
}

/// Why a body that ended before its header was complete is refused.
pub(crate) fn incomplete_header(bytes: &[u8]) -> MatrixError {
    if bytes.is_empty() {
        MatrixError::UnknownFormat {
            starts_with: "nothing: the body is empty".into(),
        }
    } else if bytes.starts_with(&MAGIC[..bytes.len().min(MAGIC.len())]) {
        MatrixError::MalformedNpy("the body ends inside the .npy header".into())
    } else if looks_like_safetensors(bytes) {
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
    use crate::matrix::{Dtype, npy_header};

    #[test]
    fn a_npy_header_gives_its_layout_once_complete() {
        let header = npy_header(Dtype::Float64, 5, 3);
        assert_eq!(read_header(&header[..20], None), Ok(None));
        let layout = read_header(&header, None).unwrap().unwrap();
        assert_eq!(
            layout,
            Layout {
                source: SourceType::Float64,
                big_endian: false,
                fortran_order: false,
                rows: 5,
                cols: 3,
                header_len: header.len(),
                bytes_before: 0,
                bytes_after: 0,
            }
        );
    }

    #[test]
    fn unknown_and_incomplete_bodies_are_described() {
        let zip = b"PK\x03\x04 0123456789abcdef";
        let error = read_header(zip, None).unwrap_err();
        assert_eq!(error.code(), "unknown_matrix_format");
        assert!(error.to_string().contains("zip archive"), "{error}");
        assert_eq!(read_header(b"\x93NUM", None), Ok(None));
        assert_eq!(incomplete_header(b"\x93NUM").code(), "malformed_npy");
        assert_eq!(incomplete_header(b"").code(), "unknown_matrix_format");
        let mut safetensors_start = 100u64.to_le_bytes().to_vec();
        safetensors_start.extend_from_slice(b"{\"a\":");
        assert_eq!(
            incomplete_header(&safetensors_start).code(),
            "malformed_safetensors"
        );
    }
}
