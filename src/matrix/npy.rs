//! The `.npy` format (numpy/lib/format.py, versions 1.0 to 3.0): parsing a header, writing the
//! exact header `numpy.save` writes.

use super::Dtype;
use super::convert::SourceType;
use super::error::{MatrixError, reshape_advice};

pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy pads headers so the data starts on a 64-byte boundary.
const ARRAY_ALIGN: usize = 64;
/// numpy leaves room to grow the first axis in place to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Far beyond any header numpy writes; bounds what a malicious header can make us buffer.
const MAX_HEADER_BYTES: usize = 1 << 20;
/// numpy's deepest headers (structured dtypes with sub-arrays) nest four levels; the bound keeps a
/// header of a million brackets from exhausting the stack.
const MAX_NESTING: usize = 32;

/// What a `.npy` header says about the data that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    pub source: SourceType,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub rows: usize,
    pub cols: usize,
    /// Bytes from the start of the file to the first data byte.
    pub data_offset: usize,
}

/// Parses the header at the start of `bytes`; `Ok(None)` while more bytes are needed.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Option<NpyHeader>, MatrixError> {
    if bytes.len() < MAGIC.len() + 2 {
        return Ok(None);
    }
    let major = bytes[6];
    let length_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        other => {
            return Err(MatrixError::MalformedNpy(format!(
                "format version {other}.{} is not one numpy writes (1.0, 2.0, 3.0)",
                bytes[7]
            )));
        }
    };
    let prefix = MAGIC.len() + 2 + length_bytes;
    if bytes.len() < prefix {
        return Ok(None);
    }
    let header_len = match length_bytes {
        2 => u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        _ => u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(MatrixError::MalformedNpy(format!(
            "header length {header_len} bytes is implausibly large"
        )));
    }
    let data_offset = prefix + header_len;
    if bytes.len() < data_offset {
        return Ok(None);
    }
    let text = std::str::from_utf8(&bytes[prefix..data_offset])
        .map_err(|_| MatrixError::MalformedNpy("the header is not valid text".into()))?;
    let dict = PyLiteral::parse(text)?;
    let PyLiteral::Dict(entries) = dict else {
        return Err(MatrixError::MalformedNpy(
            "the header is not a dictionary".into(),
        ));
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
            .ok_or_else(|| MatrixError::MalformedNpy(format!("the header has no '{name}' entry")))
    };
    let (source, big_endian) = match field("descr")? {
        PyLiteral::Str(descr) => parse_descr(descr)?,
        _ => {
            return Err(MatrixError::UnsupportedDtype {
                found: "a structured (record) dtype".into(),
            });
        }
    };
    let fortran_order = match field("fortran_order")? {
        PyLiteral::Bool(value) => *value,
        _ => {
            return Err(MatrixError::MalformedNpy(
                "'fortran_order' is not True or False".into(),
            ));
        }
    };
    let shape = match field("shape")? {
        PyLiteral::Tuple(items) => items
            .iter()
            .map(|item| match item {
                PyLiteral::Int(value) => Ok(*value),
                _ => Err(MatrixError::MalformedNpy(
                    "'shape' holds a non-integer".into(),
                )),
            })
            .collect::<Result<Vec<usize>, _>>()?,
        _ => return Err(MatrixError::MalformedNpy("'shape' is not a tuple".into())),
    };
    let [rows, cols] = shape[..] else {
        return Err(reshape_advice(&shape));
    };
    if rows == 0 || cols == 0 {
        return Err(MatrixError::Empty { rows, cols });
    }
    Ok(Some(NpyHeader {
        source,
        big_endian,
        fortran_order,
        rows,
        cols,
        data_offset,
    }))
}

/// Interprets a numpy type string such as `<f4`.
fn parse_descr(descr: &str) -> Result<(SourceType, bool), MatrixError> {
    let unsupported = || MatrixError::UnsupportedDtype {
        found: format!("'{descr}' ({})", describe_kind(descr)),
    };
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '=' | '|')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let source = match code {
        "f2" | "e" => SourceType::Float16,
        "f4" | "f" => SourceType::Float32,
        "f8" | "d" => SourceType::Float64,
        _ => return Err(unsupported()),
    };
    // '=' and '|' mean the writer's native order; every platform numpy runs on is little-endian
    // apart from s390x, whose files say '>' explicitly.
    Ok((source, order == '>'))
}

fn describe_kind(descr: &str) -> &'static str {
    let code = descr.trim_start_matches(['<', '>', '=', '|']);
    match code.chars().next() {
        Some('i' | 'u' | 'h' | 'l' | 'q' | 'H' | 'I' | 'L' | 'Q') => "integer",
        Some('b' | '?') => "boolean",
        Some('c' | 'F' | 'D' | 'G') => "complex",
        Some('O') => "Python objects",
        Some('U' | 'S' | 'a') => "strings",
        Some('M' | 'm') => "dates or times",
        Some('V') => "raw or structured records",
        Some('f' | 'g') => "a float width other than 16, 32 or 64 bits",
        _ => "not a numeric type",
    }
}

/// The header `numpy.save` writes for a C-ordered little-endian array of this dtype and shape.
pub fn npy_header(dtype: Dtype, rows: usize, cols: usize) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}",
        dtype.npy_descr()
    );
    let first_axis_digits = rows.to_string().len();
    dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(first_axis_digits)));
    let (version, length_bytes) = if dict.len() + 1 + MAGIC.len() + 4 < usize::from(u16::MAX) {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let unpadded = MAGIC.len() + 2 + length_bytes + dict.len() + 1;
    let padding = ARRAY_ALIGN - unpadded % ARRAY_ALIGN;
    let header_len = dict.len() + padding + 1;

    let mut out = Vec::with_capacity(unpadded + padding);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if length_bytes == 2 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padding));
    out.push(b'\n');
    out
}

/// The subset of Python literal syntax `.npy` headers are written in.
#[derive(Debug, PartialEq)]
enum PyLiteral {
    Dict(Vec<(String, PyLiteral)>),
    Tuple(Vec<PyLiteral>),
    Str(String),
    Int(usize),
    Bool(bool),
    None,
}

impl PyLiteral {
    fn parse(text: &str) -> Result<PyLiteral, MatrixError> {
        let mut parser = LiteralParser {
            chars: text.chars().collect(),
            at: 0,
            depth: 0,
        };
        let value = parser.value()?;
        parser.skip_space();
        if parser.at != parser.chars.len() {
            return Err(parser.error("unexpected text after the dictionary"));
        }
        Ok(value)
    }
}

struct LiteralParser {
    chars: Vec<char>,
    at: usize,
    /// Dictionaries and sequences open around the current position.
    depth: usize,
}

impl LiteralParser {
    fn error(&self, what: &str) -> MatrixError {
        MatrixError::MalformedNpy(format!("{what} at character {}", self.at))
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.chars.get(self.at).copied()
    }

    fn expect(&mut self, wanted: char) -> Result<(), MatrixError> {
        if self.peek() == Some(wanted) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{wanted}'")))
        }
    }

    fn value(&mut self) -> Result<PyLiteral, MatrixError> {
        match self.peek() {
            Some('{' | '(' | '[') if self.depth == MAX_NESTING => {
                Err(self.error("the header nests too deeply"))
            }
            Some('{') => self.nested(Self::dict),
            Some('(') => self.nested(|parser| parser.sequence('(', ')').map(PyLiteral::Tuple)),
            Some('[') => self.nested(|parser| parser.sequence('[', ']').map(PyLiteral::Tuple)),
            Some('\'' | '"') => self.string().map(PyLiteral::Str),
            Some(c) if c.is_ascii_digit() => self.integer(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<PyLiteral, MatrixError>,
    ) -> Result<PyLiteral, MatrixError> {
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn dict(&mut self) -> Result<PyLiteral, MatrixError> {
        self.expect('{')?;
        let mut entries = Vec::new();
        loop {
            if self.peek() == Some('}') {
                self.at += 1;
                return Ok(PyLiteral::Dict(entries));
            }
            let key = self.string()?;
            self.expect(':')?;
            let value = self.value()?;
            entries.push((key, value));
            match self.peek() {
                Some(',') => self.at += 1,
                Some('}') => {}
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn sequence(&mut self, open: char, close: char) -> Result<Vec<PyLiteral>, MatrixError> {
        self.expect(open)?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            match self.peek() {
                Some(',') => self.at += 1,
                Some(c) if c == close => {}
                _ => return Err(self.error(&format!("expected ',' or '{close}'"))),
            }
        }
    }

    fn string(&mut self) -> Result<String, MatrixError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted string")),
        };
        self.at += 1;
        let start = self.at;
        while let Some(&c) = self.chars.get(self.at) {
            if c == quote {
                let text = self.chars[start..self.at].iter().collect();
                self.at += 1;
                return Ok(text);
            }
            self.at += 1;
        }
        Err(self.error("unterminated string"))
    }

    fn integer(&mut self) -> Result<PyLiteral, MatrixError> {
        let start = self.at;
        while self.chars.get(self.at).is_some_and(char::is_ascii_digit) {
            self.at += 1;
        }
        let digits: String = self.chars[start..self.at].iter().collect();
        // Python 2 wrote long integers with an L suffix.
        if self.chars.get(self.at) == Some(&'L') {
            self.at += 1;
        }
        digits
            .parse()
            .map(PyLiteral::Int)
            .map_err(|_| self.error("integer out of range"))
    }

    fn word(&mut self) -> Result<PyLiteral, MatrixError> {
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(char::is_ascii_alphanumeric)
        {
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().collect();
        match word.as_str() {
            "True" => Ok(PyLiteral::Bool(true)),
            "False" => Ok(PyLiteral::Bool(false)),
            "None" => Ok(PyLiteral::None),
            _ => Err(self.error(&format!("unexpected word '{word}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_header(dict: &str) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes
    }

    #[test]
    fn header_matches_numpy_save() {
        // Bytes numpy 2.4 writes for np.save(f, np.zeros((4000, 768), np.float32)).
        let expected = "{'descr': '<f4', 'fortran_order': False, 'shape': (4000, 768), }";
        let header = npy_header(Dtype::Float32, 4000, 768);
        assert_eq!(header.len() % ARRAY_ALIGN, 0);
        assert_eq!(&header[..6], MAGIC);
        assert_eq!(&header[6..8], &[1, 0]);
        let text = std::str::from_utf8(&header[10..]).unwrap();
        assert!(text.starts_with(expected));
        assert!(text.ends_with('\n'));
        assert_eq!(
            u16::from_le_bytes([header[8], header[9]]) as usize,
            header.len() - 10
        );
        let parsed = parse_header(&header).unwrap().unwrap();
        assert_eq!((parsed.rows, parsed.cols), (4000, 768));
        assert_eq!(parsed.data_offset, header.len());
    }

    #[test]
    fn parses_fortran_big_endian_and_python2_headers() {
        let bytes =
            file_with_header("{'descr': '>f8', 'fortran_order': True, 'shape': (3L, 2L)}\n");
        let header = parse_header(&bytes).unwrap().unwrap();
        assert_eq!(header.source, SourceType::Float64);
        assert!(header.big_endian && header.fortran_order);
        assert_eq!((header.rows, header.cols), (3, 2));
    }

    #[test]
    fn incomplete_header_asks_for_more() {
        let bytes =
            file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }\n");
        assert_eq!(parse_header(&bytes[..20]).unwrap(), None);
    }

    #[test]
    fn rejects_non_float_and_wrong_rank() {
        let ints = file_with_header("{'descr': '<i8', 'fortran_order': False, 'shape': (3, 2), }");
        let error = parse_header(&ints).unwrap_err();
        assert_eq!(error.code(), "unsupported_dtype");
        assert!(error.to_string().contains("integer"), "{error}");

        let complex =
            file_with_header("{'descr': '<c16', 'fortran_order': False, 'shape': (3, 2), }");
        assert!(
            parse_header(&complex)
                .unwrap_err()
                .to_string()
                .contains("complex")
        );

        let objects =
            file_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (3, 2), }");
        assert!(
            parse_header(&objects)
                .unwrap_err()
                .to_string()
                .contains("objects")
        );

        let cube =
            file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 5), }");
        let error = parse_header(&cube).unwrap_err();
        assert_eq!(error.code(), "not_two_dimensional");
        assert!(error.to_string().contains("(3, 2, 5)"), "{error}");
        assert!(error.to_string().contains("reshape(3, -1)"), "{error}");

        let vector = file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }");
        assert!(
            parse_header(&vector)
                .unwrap_err()
                .to_string()
                .contains("reshape(-1, 1)")
        );

        let empty = file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }");
        assert_eq!(parse_header(&empty).unwrap_err().code(), "empty_matrix");
    }

    #[test]
    fn a_header_of_nested_brackets_is_refused_not_followed() {
        let brackets = "(".repeat(MAX_HEADER_BYTES - 64);
        let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {brackets}");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[2, 0]);
        bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        let error = parse_header(&bytes).unwrap_err();
        assert_eq!(error.code(), "malformed_npy");
        assert!(error.to_string().contains("nests too deeply"), "{error}");
    }

    #[test]
    fn rejects_garbage_headers() {
        for dict in [
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': 1, 'shape': (3, 2)}",
            "{'descr': '<f4' 'fortran_order': False, 'shape': (3, 2)}",
            "not a dict",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)} extra",
        ] {
            let error = parse_header(&file_with_header(dict)).unwrap_err();
            assert_eq!(error.code(), "malformed_npy", "{dict}: {error}");
        }
    }
}
