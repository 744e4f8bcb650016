//! Laying out a table of text cells. Every table pipe prints (the sweep table, `exp show`,
//! `exp diff`, `metrics show`, `metrics diff`, `params diff`) is built as a header and rows
//! of strings by its own module, then laid out here, so a layout reads the same everywhere:
//!
//! - aligned text: each column padded to its widest cell (counted in chars, so `±` and `≈`
//!   count once), two spaces between columns, trailing blanks trimmed; optionally a rule of
//!   dashes under the header;
//! - markdown: a pipe table with `|` escaped inside cells;
//! - CSV: a field is quoted (and its `"` doubled) only when it holds `,`, `"` or a newline.

use std::fmt::Write as _;

/// Aligned columns: the header, a rule of dashes under it when `rule`, then the rows.
pub fn aligned<R: AsRef<[String]>>(header: &[String], rows: &[R], rule: bool) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.as_ref().iter().enumerate() {
            match width.get_mut(i) {
                Some(w) => *w = (*w).max(c.chars().count()),
                None => width.push(c.chars().count()),
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(width[i] - c.chars().count())))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(header);
    if rule {
        let dashes: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(out, "{}", dashes.join("  "));
    }
    for r in rows {
        out.push_str(&line(r.as_ref()));
    }
    out
}

/// A markdown pipe table.
pub fn markdown<R: AsRef<[String]>>(header: &[String], rows: &[R]) -> String {
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(header);
    let _ = writeln!(out, "|{}|", vec!["---"; header.len()].join("|"));
    for r in rows {
        out.push_str(&line(r.as_ref()));
    }
    out
}

/// One CSV field, quoted only when it has to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV record (with its newline), every field quoted only when it has to be.
pub fn csv_record<S: AsRef<str>>(fields: &[S]) -> String {
    let fields: Vec<String> = fields.iter().map(|f| csv_field(f.as_ref())).collect();
    format!("{}\n", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aligned_pads_by_chars_and_trims_the_last_column() {
        let header = cells(&["cell", "f1 ↑", "state"]);
        let rows = vec![
            cells(&["a", "0.9 ± 0.1 *", "ok"]),
            cells(&["bb", "0.8", ""]),
        ];
        assert_eq!(
            aligned(&header, &rows, true),
            "cell  f1 ↑         state\n\
             ----  -----------  -----\n\
             a     0.9 ± 0.1 *  ok\n\
             bb    0.8\n"
        );
        assert_eq!(
            aligned(&header, &rows[..1], false),
            "cell  f1 ↑         state\na     0.9 ± 0.1 *  ok\n"
        );
    }

    #[test]
    fn markdown_escapes_pipes() {
        let md = markdown(&cells(&["k", "v"]), &[cells(&["a|b", "1"])]);
        assert_eq!(md, "| k | v |\n|---|---|\n| a\\|b | 1 |\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(
            csv_record(&["plain", "a,b", "say \"hi\"", "two\nlines", ""]),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\n"
        );
    }
}
