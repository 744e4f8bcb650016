//! Wall times as users write them: `"4h"`, `"90m"`, `"30s"`, `"2d"`, `"1h30m"`, or Slurm's own
//! forms (`"MM"`, `"MM:SS"`, `"HH:MM:SS"`, `"D-HH"`, `"D-HH:MM"`, `"D-HH:MM:SS"`), parsed to
//! seconds; and seconds back to Slurm's `D-HH:MM:SS` for `sbatch --time`.

/// A wall time pipe cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration like \"4h\", \"90m\" or \"1-12:00:00\"")]
    Malformed(String),
    #[error("`{0}` is zero; a wall time must be positive")]
    Zero(String),
}

/// Parses a wall time to seconds; at least one second.
pub fn parse(s: &str) -> Result<u64, DurationError> {
    let t = s.trim();
    let bad = || DurationError::Malformed(s.to_string());
    if t.is_empty() {
        return Err(bad());
    }
    let secs = if t.chars().any(|c| c.is_ascii_alphabetic()) {
        units(t).ok_or_else(bad)?
    } else {
        clock(t).ok_or_else(bad)?
    };
    if secs == 0 {
        return Err(DurationError::Zero(s.to_string()));
    }
    Ok(secs)
}

/// `1h30m`, `4h`, `2d`, `45s`.
fn units(t: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    num.is_empty().then_some(total)
}

/// Slurm's forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
fn clock(t: &str) -> Option<u64> {
    let num = |x: &str| -> Option<u64> {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        x.parse().ok()
    };
    if let Some((d, rest)) = t.split_once('-') {
        let days = num(d)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let (h, m, s) = match parts.as_slice() {
            [h] => (num(h)?, 0, 0),
            [h, m] => (num(h)?, num(m)?, 0),
            [h, m, s] => (num(h)?, num(m)?, num(s)?),
            _ => return None,
        };
        return Some(days * 86400 + h * 3600 + m * 60 + s);
    }
    let parts: Vec<&str> = t.split(':').collect();
    match parts.as_slice() {
        [m] => Some(num(m)? * 60),
        [m, s] => Some(num(m)? * 60 + num(s)?),
        [h, m, s] => Some(num(h)? * 3600 + num(m)? * 60 + num(s)?),
        _ => None,
    }
}

/// Seconds as Slurm's `D-HH:MM:SS` (or `HH:MM:SS` under a day).
pub fn slurm(secs: u64) -> String {
    let (d, rest) = (secs / 86400, secs % 86400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_forms() {
        assert_eq!(parse("4h"), Ok(4 * 3600));
        assert_eq!(parse("90m"), Ok(90 * 60));
        assert_eq!(parse("1h30m"), Ok(5400));
        assert_eq!(parse("2d"), Ok(2 * 86400));
        assert_eq!(parse("45s"), Ok(45));
    }

    #[test]
    fn slurm_forms() {
        assert_eq!(parse("30"), Ok(1800));
        assert_eq!(parse("01:30"), Ok(90));
        assert_eq!(parse("2:00:00"), Ok(7200));
        assert_eq!(parse("1-12"), Ok(86400 + 12 * 3600));
        assert_eq!(parse("1-00:00:10"), Ok(86410));
    }

    #[test]
    fn bad_forms() {
        for s in ["", "4x", "h", "1:2:3:4", "0", "0h", "-1", "1.5h"] {
            assert!(parse(s).is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn errors_say_what_was_written() {
        assert_eq!(
            parse("4x").unwrap_err().to_string(),
            "`4x` is not a duration like \"4h\", \"90m\" or \"1-12:00:00\""
        );
        assert_eq!(
            parse("0h").unwrap_err().to_string(),
            "`0h` is zero; a wall time must be positive"
        );
    }

    #[test]
    fn back_to_slurm() {
        assert_eq!(slurm(90), "00:01:30");
        assert_eq!(slurm(86400 + 3661), "1-01:01:01");
    }
}
