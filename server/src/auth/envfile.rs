//! The `.env` file: read leniently, rewritten surgically and atomically.
//!
//! Only the token's two lines (`ZERODHA_ACCESS_TOKEN`, `ZERODHA_ACCESS_TOKEN_ISSUED_AT`) are ever
//! rewritten; every other byte of the file stays as it was. A write goes to a temporary file in
//! the same folder, is flushed to disk, renamed over the file and the folder is flushed, so a
//! crash at any instant leaves the old file or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, FixedOffset, Utc};

/// The access token's key.
pub const ACCESS_TOKEN_KEY: &str = "ZERODHA_ACCESS_TOKEN";
/// When the token was issued, RFC 3339 in IST.
pub const ISSUED_AT_KEY: &str = "ZERODHA_ACCESS_TOKEN_ISSUED_AT";

/// A line that is not `KEY=VALUE`, a comment or blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvProblem {
    /// 1-based line number.
    pub line: usize,
    pub message: &'static str,
}

impl std::fmt::Display for EnvProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    /// The line's bytes in the text, terminator included.
    span: Range<usize>,
}

/// A parsed `.env` file. Lines that do not parse are kept as they are and reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    text: String,
    entries: Vec<Entry>,
    problems: Vec<EnvProblem>,
    /// False when the bytes were not UTF-8: the text is then lossy and must not be written back.
    exact: bool,
}

impl Default for EnvFile {
    fn default() -> Self {
        Self::parse("")
    }
}

impl EnvFile {
    /// Parses `bytes`; text that is not UTF-8 is one problem on line 1 and yields no values.
    pub fn parse_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text),
            Err(_) => Self {
                text: String::from_utf8_lossy(bytes).into_owned(),
                entries: Vec::new(),
                problems: vec![EnvProblem {
                    line: 1,
                    message: "the file is not UTF-8 text",
                }],
                exact: false,
            },
        }
    }

    /// Parses `KEY=VALUE` lines (optionally `export KEY=VALUE`), `#` comments and blank lines.
    /// Values may be bare (an inline comment starts at ` #`), `'single'` (literal) or
    /// `"double"` quoted (with `\"`, `\\`, `\n` escapes).
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        let mut start = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let span = start..start + line.len();
            start = span.end;
            match parse_line(line.trim_end_matches(['\n', '\r'])) {
                Ok(Some((key, value))) => entries.push(Entry { key, value, span }),
                Ok(None) => {}
                Err(message) => problems.push(EnvProblem {
                    line: index + 1,
                    message,
                }),
            }
        }
        Self {
            text: text.to_string(),
            entries,
            problems,
            exact: true,
        }
    }

    /// The value of `key`; the last line that sets it wins.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }

    /// The value of `key` unless it is blank.
    pub fn get_non_blank(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|value| !value.trim().is_empty())
    }

    /// Lines that did not parse.
    pub fn problems(&self) -> &[EnvProblem] {
        &self.problems
    }

    /// The text as read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the file can be rewritten keeping every other byte: it was UTF-8 text.
    pub fn can_rewrite(&self) -> bool {
        self.exact
    }

    /// The recorded issue time of the token, if present and well-formed.
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        let text = self.get_non_blank(ISSUED_AT_KEY)?;
        DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The file's text with the token and its issue time set, everything else unchanged.
    pub fn with_token(&self, token: &str, issued_at: DateTime<Utc>) -> String {
        let ist = FixedOffset::east_opt(19_800).expect("+05:30 is a valid offset");
        let issued = issued_at
            .with_timezone(&ist)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        self.rewrite(&[
            (ACCESS_TOKEN_KEY, Some(quote_if_needed(token))),
            (ISSUED_AT_KEY, Some(issued)),
        ])
    }

    /// The file's text without the token lines, everything else unchanged.
    pub fn without_token(&self) -> String {
        self.rewrite(&[(ACCESS_TOKEN_KEY, None), (ISSUED_AT_KEY, None)])
    }

    /// Replaces the first line of each key in place (keeping its line ending) and drops any
    /// later ones; appends keys that had no line. `None` removes the key.
    fn rewrite(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut out = String::with_capacity(self.text.len() + 128);
        let mut written: Vec<&str> = Vec::new();
        let mut cursor = 0;
        for entry in &self.entries {
            let Some((key, value)) = changes.iter().find(|(key, _)| *key == entry.key) else {
                continue;
            };
            out.push_str(&self.text[cursor..entry.span.start]);
            cursor = entry.span.end;
            if written.contains(key) {
                continue;
            }
            written.push(key);
            if let Some(value) = value {
                let line = &self.text[entry.span.clone()];
                let ending = &line[line.trim_end_matches(['\n', '\r']).len()..];
                out.push_str(&format!("{key}={value}"));
                out.push_str(if ending.is_empty() { "\n" } else { ending });
            }
        }
        out.push_str(&self.text[cursor..]);
        for (key, value) in changes {
            if let (Some(value), false) = (value, written.contains(key)) {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("{key}={value}\n"));
            }
        }
        out
    }
}

fn quote_if_needed(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:/+=".contains(&byte))
    {
        value.to_string()
    } else {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        format!("\"{escaped}\"")
    }
}

/// One line without its terminator: `Ok(None)` for blank lines and comments.
fn parse_line(line: &str) -> Result<Option<(String, String)>, &'static str> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let body = trimmed
        .strip_prefix("export ")
        .map(str::trim_start)
        .unwrap_or(trimmed);
    let Some((key, rest)) = body.split_once('=') else {
        return Err("expected KEY=VALUE");
    };
    let key = key.trim_end();
    let valid_key = key
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !valid_key {
        return Err("a name must be letters, digits and underscores, not starting with a digit");
    }
    let rest = rest.trim_start();
    let value = match rest.chars().next() {
        Some('"') => {
            let (value, tail) = double_quoted(&rest[1..])?;
            ensure_only_comment(tail)?;
            value
        }
        Some('\'') => {
            let Some(end) = rest[1..].find('\'') else {
                return Err("a single-quoted value has no closing quote (values are one line)");
            };
            ensure_only_comment(&rest[end + 2..])?;
            rest[1..=end].to_string()
        }
        _ => {
            let end = rest
                .char_indices()
                .find(|&(i, c)| c == '#' && i > 0 && rest[..i].ends_with([' ', '\t']))
                .map_or(rest.len(), |(i, _)| i);
            rest[..end].trim_end().to_string()
        }
    };
    if value.contains('\0') {
        return Err("a value holds a NUL byte");
    }
    Ok(Some((key.to_string(), value)))
}

fn double_quoted(text: &str) -> Result<(String, &str), &'static str> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[index + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, 't')) => value.push('\t'),
                Some((_, other)) => value.push(other),
                None => break,
            },
            other => value.push(other),
        }
    }
    Err("a double-quoted value has no closing quote (values are one line)")
}

fn ensure_only_comment(tail: &str) -> Result<(), &'static str> {
    let tail = tail.trim_start();
    if tail.is_empty() || tail.starts_with('#') {
        Ok(())
    } else {
        Err("unexpected text after a quoted value")
    }
}

/// The file as read, with its modification time.
#[derive(Clone, Debug)]
pub struct EnvSnapshot {
    pub file: EnvFile,
    pub modified_at: Option<DateTime<Utc>>,
}

/// Reads `path`; `Ok(None)` when it does not exist.
///
/// # Errors
///
/// The file exists but cannot be read.
pub fn read(path: &Path) -> io::Result<Option<EnvSnapshot>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let modified_at = fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
        .map(DateTime::<Utc>::from);
    Ok(Some(EnvSnapshot {
        file: EnvFile::parse_bytes(&bytes),
        modified_at,
    }))
}

/// Replaces the file at `path` with `contents` so that a crash at any instant leaves either the
/// old file or the new one: a temporary file in the same folder (mode 0600), written and
/// flushed, renamed over `path`, then the folder flushed. A symbolic link is followed, so the
/// file it points to is replaced and the link kept.
///
/// # Errors
///
/// Any step failed; the original file is then untouched and the temporary file removed.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // A symlink is written through to its target, whose mode is kept: whoever linked the file
    // (a secrets manager, a shared folder) decides who may read it. A plain file is 0600.
    let (target, mode) = match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            let target = fs::canonicalize(path)?;
            let mode = target_mode(&target);
            (target, mode)
        }
        _ => (path.to_path_buf(), PRIVATE_MODE),
    };
    let folder = folder_of(&target);
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?
        .to_string_lossy()
        .into_owned();
    let temporary = folder.join(format!(
        "{}{}-{}.tmp",
        temporary_prefix(&name),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written =
        write_new_file(&temporary, contents, mode).and_then(|()| fs::rename(&temporary, &target));
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    sync_folder(&folder)
}

/// Removes temporary files a crash left behind next to `path`.
pub fn remove_stale_temporaries(path: &Path) {
    let folder = folder_of(path);
    let Some(name) = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
    else {
        return;
    };
    let prefix = temporary_prefix(&name);
    let Ok(listing) = fs::read_dir(&folder) else {
        return;
    };
    for entry in listing.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Temporary files of `name` start with this: hidden, and never taken for the file itself.
fn temporary_prefix(name: &str) -> String {
    let hidden = if name.starts_with('.') { "" } else { "." };
    format!("{hidden}{name}.marketwarden-")
}

/// The folder holding `path` (`.` for a bare file name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The mode of a token file marketwarden creates or replaces: the owner's only.
const PRIVATE_MODE: u32 = 0o600;

/// The permission bits of the file at `path` (a symlink's target), or 0600 when unknown.
fn target_mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).map_or(PRIVATE_MODE, |metadata| {
            metadata.permissions().mode() & 0o7777
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        PRIVATE_MODE
    }
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode & 0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents)?;
    file.sync_all()
}

fn sync_folder(folder: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(folder)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(())
    }
}

#[cfg(test)]
#[path = "envfile_tests.rs"]
mod tests;
