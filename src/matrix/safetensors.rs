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
    // Offsets are the file's word; ones past any addressable size are refused, not wrapped.
    let data_start = data_start.checked_add(begin).ok_or_else(|| {
        MatrixError::TooLarge(format!(
            "tensor {name:?} starts at byte {begin} of the data"
        ))
    })?;
    Ok(Some(TensorLocation {
        source,
        rows,
        cols,
        data_start: data_start as u64,
        bytes_after: (metadata.data_len() - end) as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_said_to_start_beyond_any_address_is_refused() {
        // Eight tensors of 2^61 - 64 bytes put the ninth 512 bytes short of 2^64: past the end
        // of the address space once the header before the data is counted.
        let big = (1u64 << 61) - 64;
        let mut entries: Vec<String> = (0..8u64)
            .map(|i| {
                format!(
                    "\"t{i}\":{{\"dtype\":\"U8\",\"shape\":[{big}],\"data_offsets\":[{},{}]}}",
                    i * big,
                    (i + 1) * big
                )
            })
            .collect();
        let last = 8 * big;
        entries.push(format!(
            "\"wanted\":{{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[{last},{}]}}",
            last + 4
        ));
        let header = format!("{{{}}}", entries.join(","));
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header.as_bytes());
        let error = locate_tensor(&file, Some("wanted")).unwrap_err();
        assert_eq!(error.code(), "matrix_too_large", "{error}");
    }
}
