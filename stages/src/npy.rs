//! Reading and writing the model input's `.npy` stacks without libtorch, so that it can be
//! done on rayon's threads: a libtorch op issued from another thread makes libgomp start a second
//! OpenMP team, and with more OpenMP threads than cores libgomp stops spinning between
//! parallel regions and puts its workers to sleep, which slowed every later training step
//! on two cores by a quarter. Only what `build_model_input` writes is accepted: C-ordered
//! `uint8`, format versions 1 to 3.

use std::path::Path;

use crate::error::StageError;

const MAGIC: &[u8] = b"\x93NUMPY";

/// A C-ordered `uint8` array: its shape and its bytes.
#[derive(Debug)]
pub struct U8Array {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads a C-ordered `uint8` `.npy` file.
pub fn read_u8(path: &Path) -> Result<U8Array, StageError> {
    let bytes = std::fs::read(path)
        .map_err(|e| StageError::data(path, format!("cannot read the file: {e}")))?;
    parse_u8(&bytes).map_err(|msg| StageError::data(path, msg))
}

/// Parses the bytes of a C-ordered `uint8` `.npy` file.
pub fn parse_u8(bytes: &[u8]) -> Result<U8Array, String> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (n as usize, 12)
        }
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("the .npy header is truncated or not text")?;
    let descr = field(header, "descr").ok_or("the .npy header has no descr")?;
    if !matches!(
        descr.trim_matches(['\'', '"']),
        "|u1" | "<u1" | "u1" | ">u1"
    ) {
        return Err(format!("expected uint8 data, found dtype {descr}"));
    }
    if field(header, "fortran_order") != Some("False") {
        return Err("expected C-ordered data (fortran_order: False)".into());
    }
    let shape = shape(header).ok_or("the .npy header has no readable shape")?;
    let data = &bytes[start + len..];
    let n: usize = shape.iter().product();
    if data.len() != n {
        return Err(format!(
            "shape {shape:?} holds {n} bytes, but the file has {} after its header",
            data.len()
        ));
    }
    Ok(U8Array {
        shape,
        data: data.to_vec(),
    })
}

/// Writes `data` as a C-ordered `uint8` `.npy` file (format 1.0) of `shape`.
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<(), StageError> {
    let bytes = encode_u8(shape, data).map_err(|msg| StageError::data(path, msg))?;
    fs_err::write(path, bytes).map_err(StageError::from)
}

/// The bytes of a C-ordered `uint8` `.npy` file (format 1.0) holding `data` as `shape`.
pub fn encode_u8(shape: &[usize], data: &[u8]) -> Result<Vec<u8>, String> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(format!(
            "shape {shape:?} holds {n} bytes, not {}",
            data.len()
        ));
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic, version and length take 10 bytes; the header ends in '\n' and pads the whole
    // preamble to a multiple of 64 bytes, as numpy writes it.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - 10 - header.len() - 1));
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| "the .npy header is too long".to_string())?;
    let mut out = Vec::with_capacity(total + data.len());
    out.extend_from_slice(MAGIC);
    out.extend([1u8, 0]);
    out.extend(len.to_le_bytes());
    out.extend(header.as_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

/// The value of `'key': value` in the header dict, up to the next comma (not for tuples).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    rest.split(',').next().map(str::trim)
}

fn shape(header: &str) -> Option<Vec<usize>> {
    let at = header.find("'shape'")?;
    let rest = &header[at..];
    let open = rest.find('(')?;
    let close = rest.find(')')?;
    rest.get(open + 1..close)?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, body: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([1u8, 0]);
        v.extend((header.len() as u16).to_le_bytes());
        v.extend(header.as_bytes());
        v.extend(body);
        v
    }

    #[test]
    fn reads_shape_and_bytes() {
        let h = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n";
        let a = parse_u8(&npy(h, &[1, 2, 3, 4, 5, 6])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        let h1 = "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }\n";
        assert_eq!(
            parse_u8(&npy(h1, &[9, 8, 7, 6])).map(|a| a.shape),
            Ok(vec![4])
        );
    }

    #[test]
    fn what_it_writes_it_reads_back_with_a_numpy_preamble() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = encode_u8(&[2, 3, 2, 2], &data).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))) % 64,
            0
        );
        assert_eq!(bytes[bytes.len() - data.len() - 1], b'\n');
        let a = parse_u8(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.shape, a.data), (vec![2, 3, 2, 2], data));
        assert!(encode_u8(&[2, 2], &[0; 3]).is_err());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let f32s = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n";
        assert!(parse_u8(&npy(f32s, &[0; 4])).unwrap_err().contains("uint8"));
        let fortran = "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2), }\n";
        assert!(
            parse_u8(&npy(fortran, &[0; 4]))
                .unwrap_err()
                .contains("C-ordered")
        );
        let short = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n";
        assert!(
            parse_u8(&npy(short, &[0; 5]))
                .unwrap_err()
                .contains("holds 6 bytes")
        );
        assert!(
            parse_u8(b"PK\x03\x04 not npy")
                .unwrap_err()
                .contains("magic")
        );
    }
}
