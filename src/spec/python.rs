//! Python params files (`params.py`), read as DVC reads them: the constants a module
//! assigns, without running it.
//!
//! ```python
//! LR = 0.001                  # LR
//! LAYERS: list = [64, 32]     # LAYERS (an annotated assignment)
//! class Train:                # Train.epochs, Train.Optim.name
//!     epochs = 3
//!     class Optim:
//!         name = "adam"
//!     def __init__(self):
//!         self.seed = 7       # Train.seed (`self.` assignments of `__init__`)
//! ```
//! A param is an assignment of a literal (a number, a string, `True`/`False`/`None`, or a
//! list, tuple, set or dict of literals) to one name, at the top level or in a class body
//! (a nested table named after the class), or to `self.NAME` directly in an `__init__`.
//! Anything else is skipped as DVC skips it: an assignment of an expression (`2 * LR`,
//! `os.environ[..]`), to several targets (`a = b = 1`, `a, b = 1, 2`), or inside `if`,
//! `for`, a function other than `__init__`. Nothing is imported or run. A file that is not
//! Python (an unclosed bracket or string) is an error at its line.
//!
//! Values map as JSON's do: `None` is a null param, a tuple or set is a list, a dict key
//! that is not a string is written as Python writes it (`1`, `True`). A complex number,
//! bytes, or an integer beyond 64 bits is no param (the assignment is skipped).
//!
//! Each param's value keeps its byte range, so `exp apply` can write a new value in place.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::{Table, Value};

use super::diag::{SourceFile, SpecError};

/// A Python params file's table.
pub fn params_table(file: &SourceFile) -> Result<Table, SpecError> {
    Ok(read(file)?.0)
}

/// The table, and the byte range of each param's value (dotted key), for editing.
pub fn read(file: &SourceFile) -> Result<(Table, BTreeMap<String, Range<usize>>), SpecError> {
    let toks = lex(&file.text).map_err(|(at, msg)| {
        file.error(
            at..(at + 1).min(file.text.len()),
            format!("not a Python file pipe can read: {msg}"),
        )
    })?;
    let mut p = Parser {
        toks: &toks,
        at: 0,
        spans: BTreeMap::new(),
    };
    let table = p.block(&[], Mode::Module);
    Ok((table, p.spans))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(String),
    /// A string literal's value; `None` when it is no literal (an f-string, bytes).
    Str(Option<String>),
    Op(String),
    Newline,
    Indent,
    Dedent,
}

type Token = (Tok, Range<usize>);

/// Splits the text into tokens, with Python's logical lines (brackets and `\` join
/// physical lines; comments and blank lines vanish) and INDENT/DEDENT.
fn lex(text: &str) -> Result<Vec<Token>, (usize, String)> {
    let b = text.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut indents = vec![0usize];
    let mut depth: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        if line_start && depth.is_empty() {
            // Measure the indentation of a new logical line; blank and comment lines do
            // not count.
            let mut col = 0;
            let mut j = i;
            while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\x0c') {
                col = if b[j] == b'\t' {
                    (col / 8 + 1) * 8
                } else {
                    col + 1
                };
                j += 1;
            }
            if j >= b.len() || matches!(b[j], b'\n' | b'\r' | b'#') {
                i = j;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                i += 1;
                continue;
            }
            let top = indents.last().copied().unwrap_or(0);
            if col > top {
                if indents.len() > 100 {
                    return Err((j, "more than 100 levels of indentation".into()));
                }
                indents.push(col);
                out.push((Tok::Indent, j..j));
            } else {
                while col < indents.last().copied().unwrap_or(0) {
                    indents.pop();
                    out.push((Tok::Dedent, j..j));
                }
                if col != indents.last().copied().unwrap_or(0) {
                    return Err((j, "an indentation that matches no outer level".into()));
                }
            }
            i = j;
            line_start = false;
        }
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\x0c' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'\\' if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') => i += 3,
            b'\n' => {
                if depth.is_empty() {
                    if !matches!(out.last(), None | Some((Tok::Newline, _))) {
                        out.push((Tok::Newline, i..i + 1));
                    }
                    line_start = true;
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                // Python's own limits, which also bound this reader's recursion.
                if depth.len() >= 200 {
                    return Err((i, "brackets nested more than 200 deep".into()));
                }
                depth.push((c, i));
                out.push((Tok::Op((c as char).to_string()), i..i + 1));
                i += 1;
            }
            b')' | b']' | b'}' => {
                let open = match c {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                match depth.pop() {
                    Some((o, _)) if o == open => {}
                    _ => return Err((i, format!("`{}` closes nothing", c as char))),
                }
                out.push((Tok::Op((c as char).to_string()), i..i + 1));
                i += 1;
            }
            b'0'..=b'9' => {
                let s = number(b, i);
                out.push((Tok::Num(text[i..s].to_string()), i..s));
                i = s;
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let s = number(b, i);
                out.push((Tok::Num(text[i..s].to_string()), i..s));
                i = s;
            }
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let mut j = i;
                while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric() || b[j] >= 0x80)
                {
                    j += 1;
                }
                let word = &text[i..j];
                if matches!(b.get(j), Some(b'\'' | b'"')) && is_prefix(word) {
                    let (val, end) = string(text, j, word)?;
                    out.push((Tok::Str(val), i..end));
                    i = end;
                } else {
                    out.push((Tok::Name(word.to_string()), i..j));
                    i = j;
                }
            }
            b'\'' | b'"' => {
                let (val, end) = string(text, i, "")?;
                out.push((Tok::Str(val), i..end));
                i = end;
            }
            _ => {
                // Operators: the two- and three-character ones matter only in that `+=`
                // or `==` is not `=`.
                let three = text.get(i..i + 3).unwrap_or("");
                let two = text.get(i..i + 2).unwrap_or("");
                let len = if matches!(three, "**=" | "//=" | ">>=" | "<<=" | "...") {
                    3
                } else if matches!(
                    two,
                    "==" | "!="
                        | "<="
                        | ">="
                        | "+="
                        | "-="
                        | "*="
                        | "/="
                        | "%="
                        | "&="
                        | "|="
                        | "^="
                        | "@="
                        | "->"
                        | ":="
                        | "**"
                        | "//"
                        | "<<"
                        | ">>"
                ) {
                    2
                } else {
                    text[i..].chars().next().map_or(1, char::len_utf8)
                };
                out.push((Tok::Op(text[i..i + len].to_string()), i..i + len));
                i += len;
            }
        }
    }
    if let Some((_, at)) = depth.last() {
        return Err((*at, "a bracket is never closed".into()));
    }
    if !matches!(out.last(), None | Some((Tok::Newline, _))) {
        out.push((Tok::Newline, b.len()..b.len()));
    }
    while indents.len() > 1 {
        indents.pop();
        out.push((Tok::Dedent, b.len()..b.len()));
    }
    Ok(out)
}

fn is_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf"
    )
}

/// The end of the number starting at `i`: `0x..`/`0o..`/`0b..`, or digits with `_`, a
/// point, an exponent (`1e-3`) and an imaginary `j`.
fn number(b: &[u8], mut i: usize) -> usize {
    let word = |i: &mut usize| {
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            *i += 1;
        }
    };
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
        i += 2;
        word(&mut i);
        return i;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_' || b[i] == b'.') {
        i += 1;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
    }
    // The exponent's digits, a `j`, and whatever letters follow (no number then).
    word(&mut i);
    i
}

/// A string literal whose quote is at `q` (after `prefix`): its value (`None` for an
/// f-string or bytes, which are no params) and the end of its text.
fn string(text: &str, q: usize, prefix: &str) -> Result<(Option<String>, usize), (usize, String)> {
    let b = text.as_bytes();
    let quote = b[q];
    let triple = b.get(q + 1) == Some(&quote) && b.get(q + 2) == Some(&quote);
    let p = prefix.to_ascii_lowercase();
    let raw = p.contains('r');
    let literal = !p.contains('f') && !p.contains('b');
    let mut i = q + if triple { 3 } else { 1 };
    let mut val = String::new();
    // A string whose value cannot be held (no param, as an f-string is none).
    let mut decodable = true;
    loop {
        let Some(&c) = b.get(i) else {
            return Err((q, "a string is never closed".into()));
        };
        if c == quote && (!triple || (b.get(i + 1) == Some(&quote) && b.get(i + 2) == Some(&quote)))
        {
            let end = i + if triple { 3 } else { 1 };
            return Ok(((literal && decodable).then_some(val), end));
        }
        if c == b'\n' && !triple {
            return Err((q, "a string is never closed".into()));
        }
        if c == b'\\' {
            let Some(next) = text[i + 1..].chars().next() else {
                return Err((q, "a string is never closed".into()));
            };
            if raw {
                val.push('\\');
                val.push(next);
                i += 1 + next.len_utf8();
                continue;
            }
            i += 1 + next.len_utf8();
            match next {
                '\n' => {}
                'n' => val.push('\n'),
                't' => val.push('\t'),
                'r' => val.push('\r'),
                '0'..='7' => {
                    // Up to three octal digits: `\0`, `\033`.
                    let mut code = next.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match b.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                code = code * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    match char::from_u32(code) {
                        Some(ch) => val.push(ch),
                        None => decodable = false,
                    }
                }
                'a' => val.push('\x07'),
                'b' => val.push('\x08'),
                'f' => val.push('\x0c'),
                'v' => val.push('\x0b'),
                '\\' | '\'' | '"' => val.push(next),
                'x' | 'u' | 'U' => {
                    let n = match next {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let ch = text
                        .get(i..i + n)
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32);
                    match ch {
                        Some(ch) => val.push(ch),
                        // A lone surrogate (`\ud800`): a Python string, no Rust one.
                        None => decodable = false,
                    }
                    i += n;
                }
                // `\N{NAME}`: the character database is not at hand.
                'N' => decodable = false,
                other => {
                    // Python keeps an unknown escape as written.
                    val.push('\\');
                    val.push(other);
                }
            }
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('\0');
        val.push(ch);
        i += ch.len_utf8().max(1);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Module,
    Class,
    /// The body of `__init__`: only `self.NAME = ...` counts.
    Init,
}

struct Parser<'t> {
    toks: &'t [Token],
    at: usize,
    spans: BTreeMap<String, Range<usize>>,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.at).map(|(t, _)| t)
    }

    fn peek_at(&self, n: usize) -> Option<&'t Tok> {
        self.toks.get(self.at + n).map(|(t, _)| t)
    }

    fn is_op(&self, n: usize, op: &str) -> bool {
        matches!(self.peek_at(n), Some(Tok::Op(o)) if o == op)
    }

    /// Statements until the block's DEDENT (or the end), into a table; `path` is the
    /// dotted key of the class this is the body of.
    fn block(&mut self, path: &[String], mode: Mode) -> Table {
        let mut table = Table::new();
        loop {
            match self.peek() {
                None => break,
                Some(Tok::Dedent) => {
                    self.at += 1;
                    break;
                }
                Some(Tok::Newline | Tok::Indent) => {
                    // A stray INDENT (a continuation the lexer did not join): its block is
                    // skipped whole.
                    if self.peek() == Some(&Tok::Indent) {
                        self.at += 1;
                        self.skip_block();
                    } else {
                        self.at += 1;
                    }
                }
                // A class, at any level (inside `__init__` too, as DVC reads it).
                Some(Tok::Name(kw)) if kw == "class" => {
                    let name = match self.peek_at(1) {
                        Some(Tok::Name(n)) => n.clone(),
                        _ => {
                            self.skip_statement();
                            continue;
                        }
                    };
                    let mut sub = path.to_vec();
                    sub.push(name.clone());
                    let body = self.suite(&sub, Mode::Class);
                    table.insert(name, Value::Table(body));
                }
                Some(Tok::Name(kw)) if kw == "def" => {
                    let init = matches!(self.peek_at(1), Some(Tok::Name(n)) if n == "__init__");
                    if init {
                        for (k, v) in self.suite(path, Mode::Init) {
                            table.insert(k, v);
                        }
                    } else {
                        self.skip_statement();
                    }
                }
                Some(_) => {
                    if let Some((name, v)) = self.assignment(path, mode) {
                        table.insert(name, v);
                    }
                }
            }
        }
        table
    }

    /// A compound statement's header up to its `:`, then its body: an indented block, or
    /// simple statements on the same line.
    fn suite(&mut self, path: &[String], mode: Mode) -> Table {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Tok::Op(o) if o == ":" && depth == 0 => {
                    self.at += 1;
                    break;
                }
                Tok::Op(o) if matches!(o.as_str(), "(" | "[" | "{") => depth += 1,
                Tok::Op(o) if matches!(o.as_str(), ")" | "]" | "}") => {
                    depth = depth.saturating_sub(1)
                }
                Tok::Newline => return Table::new(),
                _ => {}
            }
            self.at += 1;
        }
        if self.peek() == Some(&Tok::Newline) && self.peek_at(1) == Some(&Tok::Indent) {
            self.at += 2;
            return self.block(path, mode);
        }
        // `class A: x = 1` — the body on the header's line.
        let mut table = Table::new();
        while !matches!(self.peek(), None | Some(Tok::Newline)) {
            // The statements up to the line's end: `;` goes on, the NEWLINE ends the body.
            let last = !matches!(self.toks.get(self.statement_end()), Some((Tok::Op(_), _)));
            if let Some((name, v)) = self.assignment(path, mode) {
                table.insert(name, v);
            }
            if last {
                return table;
            }
        }
        if self.peek() == Some(&Tok::Newline) {
            self.at += 1;
        }
        table
    }

    /// Skips a statement: its logical line, and the indented block below it if any.
    fn skip_statement(&mut self) {
        while let Some(t) = self.peek() {
            self.at += 1;
            if *t == Tok::Newline {
                break;
            }
        }
        if self.peek() == Some(&Tok::Indent) {
            self.at += 1;
            self.skip_block();
        }
    }

    /// Skips to the DEDENT that closes the block just entered.
    fn skip_block(&mut self) {
        let mut depth = 1;
        while let Some(t) = self.peek() {
            self.at += 1;
            match t {
                Tok::Indent => depth += 1,
                Tok::Dedent => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// One simple statement (to `;` or the end of the line): a param when it assigns a
    /// literal to one name (`self.NAME` in `__init__`).
    fn assignment(&mut self, path: &[String], mode: Mode) -> Option<(String, Value)> {
        let start = self.at;
        let end = self.statement_end();
        let got = self.param(start, end, mode);
        self.at = end;
        // The statement's terminator: `;` or the line's end.
        if self.is_op(0, ";") || self.peek() == Some(&Tok::Newline) {
            self.at += 1;
        }
        if self.peek() == Some(&Tok::Indent) {
            // An indented block after a simple statement (a compound statement this reader
            // does not model, `if x:` with its body): skipped.
            self.at += 1;
            self.skip_block();
        }
        let (name, value, span) = got?;
        let mut key = path.to_vec();
        key.push(name.clone());
        self.spans.insert(key.join("."), span);
        Some((name, value))
    }

    /// The index of the `;` or NEWLINE that ends the statement at `self.at`.
    fn statement_end(&self) -> usize {
        let mut i = self.at;
        let mut depth = 0usize;
        while let Some((t, _)) = self.toks.get(i) {
            match t {
                Tok::Newline => break,
                Tok::Op(o) if o == ";" && depth == 0 => break,
                Tok::Op(o) if matches!(o.as_str(), "(" | "[" | "{") => depth += 1,
                Tok::Op(o) if matches!(o.as_str(), ")" | "]" | "}") => {
                    depth = depth.saturating_sub(1)
                }
                _ => {}
            }
            i += 1;
        }
        i
    }

    fn param(&self, start: usize, end: usize, mode: Mode) -> Option<(String, Value, Range<usize>)> {
        let toks = self.toks.get(start..end)?;
        // The target: NAME, or `self . NAME` in `__init__`.
        let (name, mut i) = match (mode, toks) {
            (Mode::Init, [(Tok::Name(s), _), (Tok::Op(dot), _), (Tok::Name(n), _), ..])
                if s == "self" && dot == "." =>
            {
                (n.clone(), 3)
            }
            (Mode::Module | Mode::Class, [(Tok::Name(n), _), ..]) if !is_keyword(n) => {
                (n.clone(), 1)
            }
            _ => return None,
        };
        // `: annotation` up to `=` (an annotation without a value is no param).
        if matches!(toks.get(i), Some((Tok::Op(o), _)) if o == ":") {
            let mut depth = 0usize;
            i += 1;
            loop {
                match toks.get(i) {
                    None => return None,
                    Some((Tok::Op(o), _)) if o == "=" && depth == 0 => break,
                    Some((Tok::Op(o), _)) if matches!(o.as_str(), "(" | "[" | "{") => depth += 1,
                    Some((Tok::Op(o), _)) if matches!(o.as_str(), ")" | "]" | "}") => {
                        depth = depth.saturating_sub(1)
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        if !matches!(toks.get(i), Some((Tok::Op(o), _)) if o == "=") {
            return None;
        }
        let value = toks.get(i + 1..)?;
        let (first, last) = (value.first()?, value.last()?);
        // `a = b = 1`: several targets.
        if value
            .iter()
            .any(|(t, _)| matches!(t, Tok::Op(o) if o == "="))
        {
            return None;
        }
        let mut lit = Literal { toks: value, at: 0 };
        let v = lit.expr()?;
        (lit.at == value.len()).then_some((name, v, first.1.start..last.1.end))
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "if" | "elif"
            | "else"
            | "for"
            | "while"
            | "with"
            | "try"
            | "except"
            | "finally"
            | "return"
            | "import"
            | "from"
            | "global"
            | "nonlocal"
            | "pass"
            | "break"
            | "continue"
            | "raise"
            | "del"
            | "assert"
            | "async"
            | "await"
            | "lambda"
            | "yield"
            | "print"
    )
}

/// A literal expression, as `ast.literal_eval` takes it.
struct Literal<'t> {
    toks: &'t [Token],
    at: usize,
}

impl Literal<'_> {
    fn next(&mut self) -> Option<&Tok> {
        let t = self.toks.get(self.at).map(|(t, _)| t);
        self.at += 1;
        t
    }

    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.at), Some((Tok::Op(o), _)) if o == op)
    }

    /// A value; a bare tuple (`1, 2`) at the top.
    fn expr(&mut self) -> Option<Value> {
        let first = self.atom()?;
        if !self.peek_op(",") {
            return Some(first);
        }
        let mut items = vec![first];
        while self.peek_op(",") {
            self.at += 1;
            if self.at == self.toks.len() {
                break;
            }
            items.push(self.atom()?);
        }
        Some(Value::Array(items))
    }

    fn atom(&mut self) -> Option<Value> {
        match self.next()?.clone() {
            Tok::Num(n) => number_value(&n, false),
            Tok::Op(o) if o == "-" || o == "+" => match self.next()?.clone() {
                Tok::Num(n) => number_value(&n, o == "-"),
                _ => None,
            },
            Tok::Str(s) => {
                let mut s = s?;
                // Adjacent literals are one string.
                while let Some((Tok::Str(more), _)) = self.toks.get(self.at) {
                    s.push_str(more.as_deref()?);
                    self.at += 1;
                }
                Some(Value::String(s))
            }
            Tok::Name(n) => match n.as_str() {
                "True" => Some(Value::Boolean(true)),
                "False" => Some(Value::Boolean(false)),
                "None" => Some(super::null::null()),
                // `set()`, the one call a literal may be (the empty set).
                "set" if self.peek_op("(") => {
                    self.at += 1;
                    self.peek_op(")").then(|| self.at += 1)?;
                    Some(Value::Array(Vec::new()))
                }
                _ => None,
            },
            Tok::Op(o) if o == "[" => Some(Value::Array(self.items("]")?)),
            Tok::Op(o) if o == "(" => {
                if self.peek_op(")") {
                    self.at += 1;
                    return Some(Value::Array(Vec::new()));
                }
                let first = self.atom()?;
                if self.peek_op(")") {
                    self.at += 1;
                    return Some(first);
                }
                let mut items = vec![first];
                while self.peek_op(",") {
                    self.at += 1;
                    if self.peek_op(")") {
                        break;
                    }
                    items.push(self.atom()?);
                }
                self.peek_op(")").then(|| self.at += 1)?;
                Some(Value::Array(items))
            }
            Tok::Op(o) if o == "{" => self.dict_or_set(),
            _ => None,
        }
    }

    /// Comma-separated atoms up to `close` (a trailing comma allowed).
    fn items(&mut self, close: &str) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.peek_op(close) {
                self.at += 1;
                return Some(items);
            }
            items.push(self.atom()?);
            if self.peek_op(",") {
                self.at += 1;
            } else if !self.peek_op(close) {
                return None;
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        if self.peek_op("}") {
            self.at += 1;
            return Some(Value::Table(Table::new()));
        }
        let first = self.atom()?;
        if !self.peek_op(":") {
            // A set.
            let mut items = vec![first];
            if self.peek_op(",") {
                self.at += 1;
                items.extend(self.items("}")?);
            } else {
                self.peek_op("}").then(|| self.at += 1)?;
            }
            return Some(Value::Array(items));
        }
        let mut t = Table::new();
        let mut key = first;
        loop {
            self.peek_op(":").then(|| self.at += 1)?;
            let v = self.atom()?;
            t.insert(key_text(&key)?, v);
            if self.peek_op(",") {
                self.at += 1;
            }
            if self.peek_op("}") {
                self.at += 1;
                return Some(Value::Table(t));
            }
            key = self.atom()?;
        }
    }
}

/// A dict key as a params key: a string as it is, a number or boolean as Python writes it.
fn key_text(k: &Value) -> Option<String> {
    match k {
        Value::String(s) if !super::null::is_null(k) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(format!("{f:?}")),
        Value::Boolean(true) => Some("True".into()),
        Value::Boolean(false) => Some("False".into()),
        Value::String(_) => Some("None".into()),
        // A tuple key, as Python writes it: `(1, 2)`, `(1,)`.
        Value::Array(a) => {
            let items = a.iter().map(key_repr).collect::<Option<Vec<_>>>()?;
            Some(match items.as_slice() {
                [one] => format!("({one},)"),
                _ => format!("({})", items.join(", ")),
            })
        }
        _ => None,
    }
}

/// An item of a tuple key as Python's `repr` writes it.
fn key_repr(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !super::null::is_null(v) => Some(format!("'{s}'")),
        other => key_text(other),
    }
}

/// A Python number literal's value; `None` for a complex one or an int beyond 64 bits.
fn number_value(text: &str, negative: bool) -> Option<Value> {
    let t = text.replace('_', "");
    let lower = t.to_ascii_lowercase();
    if lower.ends_with('j') {
        return None;
    }
    let radix = match lower.get(..2) {
        Some("0x") => Some(16),
        Some("0o") => Some(8),
        Some("0b") => Some(2),
        _ => None,
    };
    if let Some(r) = radix {
        let v = i64::from_str_radix(lower.get(2..)?, r).ok()?;
        return Some(Value::Integer(if negative { -v } else { v }));
    }
    if lower.contains(['.', 'e']) {
        let v: f64 = lower.parse().ok()?;
        return Some(Value::Float(if negative { -v } else { v }));
    }
    // `007` is no Python 3 int; `0` and `00` are.
    if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|c| c != b'0') {
        return None;
    }
    let v: i64 = if negative {
        format!("-{lower}").parse().ok()?
    } else {
        lower.parse().ok()?
    };
    Some(Value::Integer(v))
}

/// A value as Python source, for writing it in place: what `read` gives back.
pub fn literal(v: &Value) -> String {
    match v {
        Value::String(_) if super::null::is_null(v) => "None".into(),
        // A TOML basic string's escapes are Python's too (`\"`, `\\`, `\n`, `\u0001`).
        Value::String(s) => super::toml_text::string(s),
        Value::Integer(i) => i.to_string(),
        // No literal is NaN (the value read back differs, and the edit is refused).
        Value::Float(f) if f.is_nan() => "float(\"nan\")".into(),
        // A literal too large for a float is infinite.
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "1e999" } else { "-1e999" }.into(),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(true) => "True".into(),
        Value::Boolean(false) => "False".into(),
        Value::Datetime(d) => literal(&Value::String(d.to_string())),
        Value::Array(a) => format!("[{}]", a.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Table(t) => format!(
            "{{{}}}",
            t.iter()
                .map(|(k, x)| format!("{}: {}", literal(&Value::String(k.clone())), literal(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        params_table(&SourceFile {
            name: "params.py".into(),
            text: text.to_string().into(),
        })
        .unwrap()
    }

    #[test]
    fn constants_classes_and_init_are_params() {
        let t = table(
            "\"\"\"Params.\"\"\"\nimport os\nfrom dataclasses import dataclass\n\nLR = 0.001  # learning rate\nLAYERS: list = [64, 32,]\nNAME = 'run' \"-1\"\nTUPLE = 1, 2\nNEG = -3\nHEX = 0xff\nBIG = 1_000\nFLAG = True\nNOTHING = None\nNESTED = {'a': {'b': (1, 2)}, 3: {4}}\nDERIVED = LR * 2\nENV = os.environ.get('X')\nA = B = 5\nC, D = 1, 2\nE += 1\nCPLX = 1j\nF = f'x{LR}'\nlabel: str\n\nif True:\n    HIDDEN = 1\n\ndef helper():\n    INNER = 2\n    return INNER\n\n@dataclass\nclass Train:\n    epochs: int = 3\n    optim = \"adam\"; momentum = 0.9\n\n    class Sched:\n        name = 'cos'\n\n    def __init__(self, x=1):\n        self.seed = 7\n        other = 8\n        self.derived = x\n\n    def step(self):\n        self.never = 1\n\nclass One: size = 2\n",
        );
        let want = toml::toml! {
            LR = 0.001
            LAYERS = [64, 32]
            NAME = "run-1"
            TUPLE = [1, 2]
            NEG = -3
            HEX = 255
            BIG = 1000
            FLAG = true
            NESTED = { a = { b = [1, 2] }, 3 = [4] }
            [Train]
            epochs = 3
            optim = "adam"
            momentum = 0.9
            seed = 7
            [Train.Sched]
            name = "cos"
            [One]
            size = 2
        };
        let mut want = want;
        want.insert("NOTHING".into(), super::super::null::null());
        assert_eq!(t, want);
    }

    #[test]
    fn a_one_line_body_ends_with_its_line() {
        let t = table(
            "class T:\n    def __init__(self) -> None: ...\n    def f(self): return 1\n    size = 2\n    class U: a = 1; b = 2\n    after = 3\n",
        );
        assert_eq!(
            t,
            toml::toml! {
                [T]
                size = 2
                after = 3
                [T.U]
                a = 1
                b = 2
            }
        );
    }

    #[test]
    fn nesting_past_pythons_limits_is_an_error_not_a_crash() {
        let deep = format!("X = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let classes: String = (0..150)
            .map(|d| format!("{}class C{d}:\n", "    ".repeat(d)))
            .collect();
        for (text, why) in [
            (deep, "brackets nested more than 200 deep"),
            (classes, "more than 100 levels of indentation"),
        ] {
            let e = params_table(&SourceFile {
                name: "params.py".into(),
                text: text.into(),
            })
            .unwrap_err();
            assert_eq!(
                e.message(),
                format!("not a Python file pipe can read: {why}")
            );
        }
        let ok = format!("X = {}1{}\n", "[".repeat(150), "]".repeat(150));
        assert!(table(&ok).contains_key("X"));
    }

    #[test]
    fn strings_decode_escapes_and_keep_raw_ones() {
        let t = table(
            "A = 'a\\tb\\'c'\nB = r'\\d+'\nC = \"\"\"two\nlines\"\"\"\nD = '\\u00e9\\x41\\033[0m\\0'\n",
        );
        assert_eq!(t["A"].as_str(), Some("a\tb'c"));
        assert_eq!(t["B"].as_str(), Some("\\d+"));
        assert_eq!(t["C"].as_str(), Some("two\nlines"));
        assert_eq!(t["D"].as_str(), Some("éA\x1b[0m\0"));
    }

    #[test]
    fn an_unclosed_bracket_or_string_is_an_error_at_its_place() {
        for (text, why) in [
            ("A = [1,\nB = 2\n", "a bracket is never closed"),
            ("A = 1\nB = 'x\n", "a string is never closed"),
        ] {
            let e = params_table(&SourceFile {
                name: "params.py".into(),
                text: text.to_string().into(),
            })
            .unwrap_err();
            assert_eq!(
                e.message(),
                format!("not a Python file pipe can read: {why}")
            );
        }
    }

    #[test]
    fn each_value_keeps_its_text_range_and_literal_reads_back() {
        let text = "LR = 0.001  # lr\nclass T:\n    name = 'a'\n";
        let (_, spans) = read(&SourceFile {
            name: "params.py".into(),
            text: text.to_string().into(),
        })
        .unwrap();
        assert_eq!(&text[spans["LR"].clone()], "0.001");
        assert_eq!(&text[spans["T.name"].clone()], "'a'");
        for v in [
            Value::String("q\"\\\n".into()),
            Value::Float(1.0),
            Value::Array(vec![Value::Integer(-1), super::super::null::null()]),
            Value::Table(toml::toml! { a = { b = false } }),
        ] {
            let t = table(&format!("X = {}\n", literal(&v)));
            assert_eq!(t["X"], v, "{}", literal(&v));
        }
    }
}
