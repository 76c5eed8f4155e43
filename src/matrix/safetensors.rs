//! The safetensors format: an 8-byte little-endian header length, a JSON header, then the data of
//! every tensor (row-major, little-endian) back to back.

use safetensors::Dtype as TensorDtype;
use safetensors::tensor::Metadata;

use super::convert::SourceType;
use super::error::{MatrixError, reshape_advice};

/// Bounds what a malicious header can make us buffer (the format itself allows 100 MB).
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Where the chosen tensor lies in the file, and how it is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TensorLocation {
    pub source: SourceType,
    pub rows: usize,
    pub cols: usize,
    /// Bytes from the start of the file to the first byte of the tensor.
    pub data_start: u64,
    /// Bytes of other tensors after this one, to the end of the file.
    pub bytes_after: u64,
}

/// Whether the first bytes of a body look like a safetensors header.
pub(crate) fn looks_like_safetensors(prefix: &[u8]) -> bool {
    prefix.len() >= 9
        && u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes")) <= MAX_HEADER_BYTES
        && prefix[8] == b'{'
}

/// Parses the header at the start of `bytes` and locates the wanted tensor (or the only one);
/// `Ok(None)` while more bytes are needed.
pub(crate) fn locate_tensor(
    bytes: &[u8],
    wanted: Option<&str>,
) -> Result<Option<TensorLocation>, MatrixError> {
    if bytes.len() < 8 {
        return Ok(None);
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if header_len > MAX_HEADER_BYTES {
        return Err(MatrixError::MalformedSafetensors(format!(
            "header length {header_len} bytes is implausibly large"
        )));
    }
    let data_start = 8 + header_len as usize;
    if bytes.len() < data_start {
        return Ok(None);
    }
    let metadata: Metadata = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|error| MatrixError::MalformedSafetensors(error.to_string()))?;
    let names = metadata.offset_keys();
    let name = match (wanted, names.as_slice()) {
        (Some(wanted), _) => wanted.to_owned(),
        (None, [only]) => only.clone(),
        (None, []) => {
            return Err(MatrixError::MalformedSafetensors(
                "the file holds no tensor".into(),
            ));
        }
        (None, _) => {
            return Err(MatrixError::AmbiguousTensor {
                names: names.join(", "),
            });
        }
    };
    let info = metadata
        .info(&name)
        .ok_or_else(|| MatrixError::TensorNotFound {
            wanted: name.clone(),
            names: names.join(", "),
        })?;
    let source = match info.dtype {
        TensorDtype::F16 => SourceType::Float16,
        TensorDtype::BF16 => SourceType::BFloat16,
        TensorDtype::F32 => SourceType::Float32,
        TensorDtype::F64 => SourceType::Float64,
        other => {
            return Err(MatrixError::UnsupportedDtype {
                found: format!("{other:?} (tensor {name:?}); save it with .float() first"),
            });
        }
    };
    let [rows, cols] = info.shape[..] else {
        return Err(reshape_advice(&info.shape));
    };
    if rows == 0 || cols == 0 {
        return Err(MatrixError::Empty { rows, cols });
    }
    let (begin, end) = info.data_offsets;
    Ok(Some(TensorLocation {
        source,
        rows,
        cols,
        data_start: (data_start + begin) as u64,
        bytes_after: (metadata.data_len() - end) as u64,
    }))
}
