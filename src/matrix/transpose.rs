//! The Fortran-order transpose. A column-major array's first row is only complete once all of it
//! has arrived, so it is held whole, checked, and handed out as row-major chunks one at a time.

use super::convert::non_finite;
use super::error::MatrixError;
use super::{CHUNK_BYTES, MatrixInfo};

/// A whole column-major array in the stored dtype, read out row by row.
pub(crate) struct RowMajorChunks {
    column_major: Vec<u8>,
    info: MatrixInfo,
    next_row: usize,
}

impl RowMajorChunks {
    /// Refuses the array if it holds a non-finite value, naming the first in row-major order,
    /// as for a C-ordered upload of the same matrix.
    pub(crate) fn new(column_major: Vec<u8>, info: MatrixInfo) -> Result<Self, MatrixError> {
        let item = info.dtype.item_size();
        let mut first: Option<(usize, usize, f64)> = None;
        for (index, bytes) in column_major.chunks_exact(item).enumerate() {
            let value = info.dtype.widen(bytes);
            if value.is_finite() {
                continue;
            }
            let (row, column) = (index % info.rows, index / info.rows);
            if first.is_none_or(|(r, c, _)| (row, column) < (r, c)) {
                first = Some((row, column, value));
            }
        }
        if let Some((row, column, value)) = first {
            return Err(non_finite(value, row, column));
        }
        Ok(RowMajorChunks {
            column_major,
            info,
            next_row: 0,
        })
    }

    pub(crate) fn info(&self) -> MatrixInfo {
        self.info
    }

    /// The next whole rows, at most [`CHUNK_BYTES`] of them (at least one row); `None` after
    /// the last, when the array is released.
    pub(crate) fn next_chunk(&mut self) -> Option<Vec<u8>> {
        let MatrixInfo { rows, cols, dtype } = self.info;
        if self.next_row == rows {
            self.column_major = Vec::new();
            return None;
        }
        let item = dtype.item_size();
        let row_bytes = cols * item;
        let rows_per_chunk = (CHUNK_BYTES / row_bytes).max(1);
        let (first_row, end_row) = (self.next_row, (self.next_row + rows_per_chunk).min(rows));
        let mut chunk = vec![0u8; (end_row - first_row) * row_bytes];
        // Column by column, so the column-major side is read in order.
        for col in 0..cols {
            let column =
                &self.column_major[(col * rows + first_row) * item..(col * rows + end_row) * item];
            for (offset, element) in column.chunks_exact(item).enumerate() {
                let at = offset * row_bytes + col * item;
                chunk[at..at + item].copy_from_slice(element);
            }
        }
        self.next_row = end_row;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{Dtype, f32_bytes};

    #[test]
    fn wide_rows_come_out_whole_and_in_order() {
        // 12 000 bytes a row: 699 rows fill a chunk, so 1500 rows take three.
        let (rows, cols) = (1500, 3000);
        let value = |row: usize, col: usize| (row * cols + col) as f32;
        let column_major: Vec<f32> = (0..cols)
            .flat_map(|col| (0..rows).map(move |row| value(row, col)))
            .collect();
        let info = MatrixInfo {
            dtype: Dtype::Float32,
            rows,
            cols,
        };
        let mut chunks = RowMajorChunks::new(f32_bytes(&column_major, false), info).unwrap();
        let mut row_major = Vec::new();
        let mut count = 0;
        while let Some(chunk) = chunks.next_chunk() {
            assert!(chunk.len() <= CHUNK_BYTES);
            assert_eq!(chunk.len() % (cols * 4), 0, "whole rows only");
            row_major.extend(chunk);
            count += 1;
        }
        assert!(count > 1);
        let expected: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        assert_eq!(row_major, f32_bytes(&expected, false));
    }
}
