//! Plot data: CSV, TSV or a JSON array of records, as named columns of text cells.
//!
//! CSV follows RFC 4180 (quoted fields, doubled quotes, commas and newlines inside
//! quotes); TSV splits on tabs; JSON is `[{"epoch": 1, "loss": 0.5}, ...]` (or such an
//! array under the file's one top-level key, as some tools write it). Numbers are parsed
//! where a chart needs them, so a categorical column (a class name) stays usable.

use serde_json::Value as J;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Records {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Records {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The cells of column `i` as numbers (`None` where a cell is not one).
    pub fn numbers(&self, i: usize) -> Vec<Option<f64>> {
        self.rows
            .iter()
            .map(|r| r.get(i).and_then(|c| c.trim().parse::<f64>().ok()))
            .collect()
    }

    pub fn texts(&self, i: usize) -> Vec<&str> {
        self.rows
            .iter()
            .map(|r| r.get(i).map_or("", String::as_str))
            .collect()
    }
}

/// Why a file is not plot data.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("plots are CSV, TSV or JSON (an array of records); the extension says which")]
    Format,
    #[error("no header row: the file is empty")]
    Empty,
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A one-key object whose value is not an array.
    #[error("not an array of records")]
    NotAnArray,
    #[error("not an array of records like [{{\"x\": 1, \"y\": 2}}, ...]")]
    NotRecords,
    #[error("an element of the array is not a record (an object)")]
    NotARecord,
}

/// Parses plot data by the file's extension (`.csv`, `.tsv`, `.json`).
pub fn parse(path: &str, text: &str) -> Result<Records, RecordsError> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".json") {
        json(text)
    } else if lower.ends_with(".tsv") {
        Ok(delimited(text, '\t'))
    } else if lower.ends_with(".csv") {
        Ok(delimited(text, ','))
    } else {
        Err(RecordsError::Format)
    }
    .and_then(|r| {
        if r.columns.is_empty() {
            Err(RecordsError::Empty)
        } else {
            Ok(r)
        }
    })
}

fn delimited(text: &str, sep: char) -> Records {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut field = String::new();
    let mut row = Vec::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if sep == ',' && (quoted || field.is_empty()) => quoted = !quoted,
            c if c == sep && !quoted => row.push(std::mem::take(&mut field)),
            '\r' if !quoted => {}
            '\n' if !quoted => {
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].is_empty()) {
                    lines.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        lines.push(row);
    }
    let mut it = lines.into_iter();
    let columns = it.next().unwrap_or_default();
    Records {
        columns,
        rows: it.collect(),
    }
}

fn json(text: &str) -> Result<Records, RecordsError> {
    let v: J = super::pyjson::from_str(text)?;
    let arr = match v {
        J::Array(a) => a,
        J::Object(m) if m.len() == 1 => match m.into_iter().next() {
            Some((_, J::Array(a))) => a,
            _ => return Err(RecordsError::NotAnArray),
        },
        _ => return Err(RecordsError::NotRecords),
    };
    let mut columns: Vec<String> = Vec::new();
    for r in &arr {
        let J::Object(m) = r else {
            return Err(RecordsError::NotARecord);
        };
        for k in m.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let rows = arr
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| match r.get(c) {
                    None | Some(J::Null) => String::new(),
                    Some(J::String(s)) => match super::pyjson::non_finite(s) {
                        Some(f) => f.to_string(),
                        None => s.clone(),
                    },
                    Some(other) => other.to_string(),
                })
                .collect()
        })
        .collect();
    Ok(Records { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_tsv_and_json_give_the_same_columns() {
        let csv = parse(
            "c.csv",
            "epoch,loss,note\n1,0.5,\"a, b\"\n2,0.25,\"say \"\"hi\"\"\"\n",
        )
        .unwrap();
        assert_eq!(csv.columns, ["epoch", "loss", "note"]);
        assert_eq!(csv.rows[0], ["1", "0.5", "a, b"]);
        assert_eq!(csv.rows[1][2], "say \"hi\"");
        assert_eq!(csv.numbers(1), [Some(0.5), Some(0.25)]);
        assert_eq!(csv.numbers(2), [None, None]);
        let tsv = parse("c.tsv", "epoch\tloss\n1\t0.5\n2\t0.25\n").unwrap();
        assert_eq!(tsv.numbers(1), csv.numbers(1));
        let json = parse(
            "c.json",
            r#"[{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "tag": "x"}]"#,
        )
        .unwrap();
        assert_eq!(json.columns, ["epoch", "loss", "tag"]);
        assert_eq!(json.numbers(1), csv.numbers(1));
        assert_eq!(json.rows[0][2], "");
        let nested = parse("c.json", r#"{"train": [{"epoch": 1}]}"#).unwrap();
        assert_eq!(nested.columns, ["epoch"]);
    }

    #[test]
    fn unusable_files_say_why() {
        assert!(
            parse("c.json", "{\"a\": 1, \"b\": 2}")
                .unwrap_err()
                .to_string()
                .contains("not an array")
        );
        assert!(
            parse("c.json", "[1, 2]")
                .unwrap_err()
                .to_string()
                .contains("not a record")
        );
        assert!(
            parse("c.png", "x")
                .unwrap_err()
                .to_string()
                .contains("CSV, TSV or JSON")
        );
        assert!(
            parse("c.csv", "")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}
