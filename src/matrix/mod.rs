//! Matrix codecs: `.npy` and safetensors bodies in, canonical bytes and `.npy` out.
//!
//! A representation is kept in its *canonical form*: the dtype it was uploaded in (float16, float32
//! or float64), little-endian, row-major (examples x features). Its content address is the SHA-256
//! of the `.npy` file holding exactly that form, as `numpy.save` writes it, so a researcher can
//! check an upload with `hashlib.sha256(open("x.npy", "rb").read())` for a C-ordered
//! little-endian array.

mod convert;
mod decode_thread;
mod decoder;
mod error;
mod format;
mod npy;
mod safetensors;
mod transpose;

use std::io::Read;
use std::path::Path;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use decode_thread::{BodyFeed, Decoded, DecoderOutput, DecoderStopped, spawn_decoder};
pub use decoder::MatrixDecoder;
pub use error::MatrixError;
pub use npy::npy_header;

/// Size of the pieces canonical data is produced and stored in (DESIGN: blobs are chunked so a
/// matrix can exceed PostgreSQL's 1 GiB bytea cap).
pub const CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// Element type a representation is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Float16,
    Float32,
    Float64,
}

impl Dtype {
    pub fn item_size(self) -> usize {
        match self {
            Dtype::Float16 => 2,
            Dtype::Float32 => 4,
            Dtype::Float64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Float16 => "float16",
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
        }
    }

    pub fn from_name(name: &str) -> Option<Dtype> {
        match name {
            "float16" => Some(Dtype::Float16),
            "float32" => Some(Dtype::Float32),
            "float64" => Some(Dtype::Float64),
            _ => None,
        }
    }

    /// The numpy type string of the canonical (little-endian) layout.
    pub fn npy_descr(self) -> &'static str {
        match self {
            Dtype::Float16 => "<f2",
            Dtype::Float32 => "<f4",
            Dtype::Float64 => "<f8",
        }
    }

    /// The value of one canonical element (`item_size` bytes), widened to f64 exactly.
    fn widen(self, bytes: &[u8]) -> f64 {
        match self {
            Dtype::Float16 => half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f64(),
            Dtype::Float32 => f64::from(f32::from_le_bytes(
                bytes.try_into().expect("4 bytes an element"),
            )),
            Dtype::Float64 => f64::from_le_bytes(bytes.try_into().expect("8 bytes an element")),
        }
    }
}

/// Shape and stored dtype of a matrix, as its header announced them.
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

/// The content address of a matrix, computed from its canonical data piece by piece: SHA-256 of
/// the `.npy` file `numpy.save` writes for it.
pub struct ContentHasher(Sha256);

impl ContentHasher {
    pub fn new(info: MatrixInfo) -> ContentHasher {
        let mut hasher = Sha256::new();
        hasher.update(npy_header(info.dtype, info.rows, info.cols));
        ContentHasher(hasher)
    }

    /// Adds the next canonical bytes, in order.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// A matrix in canonical form, held in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct CanonicalMatrix {
    pub dtype: Dtype,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u8>,
}

impl CanonicalMatrix {
    /// Builds the canonical float64 form of an in-memory matrix.
    pub fn from_f64(values: &Array2<f64>) -> CanonicalMatrix {
        CanonicalMatrix::from_f64_as(Dtype::Float64, values)
    }

    /// Builds the canonical form of an in-memory matrix in `dtype`, rounding each value to it.
    pub fn from_f64_as(dtype: Dtype, values: &Array2<f64>) -> CanonicalMatrix {
        let mut data = Vec::with_capacity(values.len() * dtype.item_size());
        for &value in values {
            match dtype {
                Dtype::Float16 => data.extend_from_slice(&half::f16::from_f64(value).to_le_bytes()),
                Dtype::Float32 => data.extend_from_slice(&(value as f32).to_le_bytes()),
                Dtype::Float64 => data.extend_from_slice(&value.to_le_bytes()),
            }
        }
        CanonicalMatrix {
            dtype,
            rows: values.nrows(),
            cols: values.ncols(),
            data,
        }
    }

    pub fn info(&self) -> MatrixInfo {
        MatrixInfo {
            dtype: self.dtype,
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Widens every element to f64 (DESIGN, Metric definitions: computation in f64 whatever the
    /// upload dtype).
    pub fn to_f64(&self) -> Array2<f64> {
        let values: Vec<f64> = self
            .data
            .chunks_exact(self.dtype.item_size())
            .map(|element| self.dtype.widen(element))
            .collect();
        Array2::from_shape_vec((self.rows, self.cols), values)
            .expect("canonical data holds rows x cols elements")
    }

    /// The `.npy` file of this matrix, byte for byte what `numpy.save` writes.
    pub fn to_npy(&self) -> Vec<u8> {
        let mut file = npy_header(self.dtype, self.rows, self.cols);
        file.extend_from_slice(&self.data);
        file
    }

    /// Content address: SHA-256 of [`CanonicalMatrix::to_npy`].
    pub fn sha256(&self) -> [u8; 32] {
        let mut hasher = ContentHasher::new(self.info());
        hasher.update(&self.data);
        hasher.finish()
    }
}

/// Decodes a whole `.npy` or safetensors byte source with the same decoder uploads go through.
pub fn read_matrix(
    mut source: impl Read,
    tensor: Option<&str>,
) -> Result<CanonicalMatrix, MatrixError> {
    let mut decoder = MatrixDecoder::new(tensor.map(str::to_owned));
    let mut data = Vec::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = source
            .read(&mut buffer)
            .map_err(|error| MatrixError::Io(error.to_string()))?;
        if read == 0 {
            break;
        }
        decoder.push(&buffer[..read])?;
        while let Some(chunk) = decoder.next_chunk() {
            data.extend_from_slice(&chunk);
        }
    }
    let info = decoder.finish()?;
    while let Some(chunk) = decoder.next_chunk() {
        data.extend_from_slice(&chunk);
    }
    Ok(CanonicalMatrix {
        dtype: info.dtype,
        rows: info.rows,
        cols: info.cols,
        data,
    })
}

/// Reads a `.npy` or `.safetensors` file from disk.
pub fn read_matrix_file(path: &Path, tensor: Option<&str>) -> Result<CanonicalMatrix, MatrixError> {
    let file = std::fs::File::open(path)
        .map_err(|error| MatrixError::Io(format!("{}: {error}", path.display())))?;
    read_matrix(std::io::BufReader::new(file), tensor)
}

/// Test data: float32 values in either byte order.
#[cfg(test)]
pub(crate) fn f32_bytes(values: &[f32], big_endian: bool) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn canonical_round_trip_through_npy() {
        let values = array![[1.0, -2.5, 3.0], [4.0, 5.0, 6.25]];
        let matrix = CanonicalMatrix::from_f64(&values);
        let decoded = read_matrix(matrix.to_npy().as_slice(), None).unwrap();
        assert_eq!(decoded, matrix);
        assert_eq!(decoded.to_f64(), values);
    }

    #[test]
    fn content_address_is_the_sha256_of_numpy_save_output() {
        // hashlib.sha256 of np.save(f, np.arange(12, dtype=np.float32).reshape(3, 4)), numpy 2.4.
        let values: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let matrix = CanonicalMatrix {
            dtype: Dtype::Float32,
            rows: 3,
            cols: 4,
            data: values,
        };
        assert_eq!(
            hex::encode(matrix.sha256()),
            "44ff8088185882f814160792efc04fb181ab78c73daf1c7e0824c2709cd594d5"
        );
    }

    #[test]
    fn float16_widens_exactly() {
        let halves = [1.5f32, -0.25, 65504.0, 0.0];
        let data = halves
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        let matrix = CanonicalMatrix {
            dtype: Dtype::Float16,
            rows: 2,
            cols: 2,
            data,
        };
        assert_eq!(matrix.to_f64(), array![[1.5, -0.25], [65504.0, 0.0]]);
    }
}
