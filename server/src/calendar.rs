//! The calendar in use: the built-in one, with the operator's calendar file laid over it.
//!
//! A file that fails to load changes nothing: the last good calendar stays in use and the error
//! is kept for the health API and logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use marketwarden_core::{Calendar, Segment};

/// The calendar in use and where it came from.
#[derive(Debug)]
pub struct CalendarStore {
    path: Option<PathBuf>,
    builtin: Calendar,
    state: RwLock<Loaded>,
    /// Counts reloads (good or bad), so the event stream can send pages the new calendar.
    reloads: tokio::sync::watch::Sender<u64>,
}

#[derive(Clone, Debug)]
struct Loaded {
    calendar: Arc<Calendar>,
    overrides: Option<Arc<str>>,
    error: Option<String>,
}

/// The calendar to compute with, and the override text the browser needs to compute the same.
#[derive(Clone, Debug)]
pub struct CurrentCalendar {
    pub calendar: Arc<Calendar>,
    pub overrides: Option<Arc<str>>,
    /// Why the operator's file is not in use, if it is not.
    pub error: Option<String>,
}

impl CalendarStore {
    /// The built-in calendar alone.
    pub fn builtin() -> Self {
        let builtin = Calendar::builtin();
        let state = Loaded {
            calendar: Arc::new(builtin.clone()),
            overrides: None,
            error: None,
        };
        Self {
            path: None,
            builtin,
            state: RwLock::new(state),
            reloads: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The built-in calendar with the file at `path` laid over it. If the file cannot be read
    /// or parsed, the built-in calendar is used and the error kept (see [`Self::current`]).
    pub fn with_file(path: PathBuf) -> Self {
        let store = Self {
            path: Some(path),
            ..Self::builtin()
        };
        store.reload();
        store
    }

    /// Reads the operator's file again. On success it replaces the calendar in use; on failure
    /// the calendar in use stays and the error is recorded. Returns the error, if any.
    pub fn reload(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        let result = read_overrides(path).and_then(|text| {
            self.builtin
                .with_overrides(&text)
                .map(|calendar| (calendar, text))
                .map_err(|error| indent_problems(path, &error.to_string()))
        });
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let outcome = match result {
            Ok((calendar, text)) => {
                tracing::info!(
                    path = %path.display(),
                    coverage_ends = %calendar
                        .coverage(Segment::NseCm)
                        .map_or_else(|| "none".to_string(), |c| c.ends.to_string()),
                    "calendar file loaded"
                );
                *state = Loaded {
                    calendar: Arc::new(calendar),
                    overrides: Some(text.into()),
                    error: None,
                };
                None
            }
            Err(error) => {
                tracing::error!(path = %path.display(), "calendar file not loaded, keeping the last good calendar: {error}");
                // The health API and the page get the line and the problem, not the folder the
                // file is in nor what its lines say.
                state.error = Some(public_error(path, &error));
                Some(error)
            }
        };
        drop(state);
        self.reloads.send_modify(|count| *count += 1);
        outcome
    }

    /// Changes after every reload, successful or not (the value counts them).
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// Reloads so far, successful or not.
    pub fn reload_count(&self) -> u64 {
        *self.reloads.borrow()
    }

    /// The calendar in use now.
    pub fn current(&self) -> CurrentCalendar {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        CurrentCalendar {
            calendar: state.calendar.clone(),
            overrides: state.overrides.clone(),
            error: state.error.clone(),
        }
    }
}

/// Reads a calendar file, with errors that name it.
pub fn read_overrides(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|error| format!("cannot read {}: {}", path.display(), error.kind()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CALENDAR_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read {}: {}", path.display(), error.kind()))?;
    if bytes.len() as u64 > MAX_CALENDAR_FILE {
        return Err(format!(
            "{} is larger than {} KiB: not a calendar file",
            path.display(),
            MAX_CALENDAR_FILE / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// The largest calendar file read (a year of entries is a few KiB).
pub const MAX_CALENDAR_FILE: u64 = 1024 * 1024;

/// `error` as the health API shows it: the file's name instead of its path, and every quoted
/// piece of the file (`` `…` ``) left out.
fn public_error(path: &Path, error: &str) -> String {
    let full = path.display().to_string();
    let name = path.file_name().map_or_else(
        || "the calendar file".to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let text = error.replace(&full, &name);
    text.lines()
        .map(|line| {
            // A quote of the file that itself holds a backtick cannot be told apart: keep
            // nothing past the first backtick then.
            if line.matches('`').count() % 2 == 1 {
                let cut = line.find('`').unwrap_or(line.len());
                return format!("{}…", &line[..cut]);
            }
            let mut public = String::with_capacity(line.len());
            let mut quoted = false;
            for character in line.chars() {
                match (character, quoted) {
                    ('`', false) => {
                        quoted = true;
                        public.push('…');
                    }
                    ('`', true) => quoted = false,
                    (_, true) => {}
                    (character, false) => public.push(character),
                }
            }
            public
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// "path: line 3: ..." for every problem.
pub fn indent_problems(path: &Path, problems: &str) -> String {
    problems
        .lines()
        .map(|line| format!("{}: {line}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_error_names_the_line_not_the_folder_nor_the_contents() {
        let dir = temp_dir();
        let path = write(
            dir.path(),
            "date,kind,hours,name\n2027-01-26,clsoed-SECRET-WORD,,Republic Day\n",
        );
        let store = CalendarStore::with_file(path.clone());
        let error = store.current().error.expect("an error");
        assert!(error.contains("calendar.csv"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        assert!(
            !error.contains(&dir.path().display().to_string()),
            "{error}"
        );
        assert!(!error.contains("SECRET-WORD"), "{error}");
        // The operator's own command keeps everything.
        let full = store.reload().expect("still bad");
        assert!(full.contains("SECRET-WORD"), "{full}");
    }

    #[test]
    fn a_backtick_in_the_file_does_not_let_its_text_through() {
        let path = PathBuf::from("/srv/secret-folder/calendar.csv");
        let error = "/srv/secret-folder/calendar.csv: line 1: expected the header `date,kind,hours,name`, found `x`y SECRET`";
        let public = public_error(&path, error);
        assert!(!public.contains("SECRET"), "{public}");
        assert!(!public.contains("secret-folder"), "{public}");
        assert!(
            public.starts_with("calendar.csv: line 1: expected the header "),
            "{public}"
        );
    }

    #[test]
    fn a_huge_file_is_refused_without_reading_it_all() {
        let dir = temp_dir();
        let path = dir.path().join("calendar.csv");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(64 * 1024 * 1024).unwrap();
        let error = read_overrides(&path).unwrap_err();
        assert!(error.contains("larger than 1024 KiB"), "{error}");
    }
    use chrono::NaiveDate;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("calendar.csv");
        std::fs::write(&path, text).expect("writable temp dir");
        path
    }

    /// A temporary folder, removed when the guard drops.
    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn good_file_extends_the_coverage() {
        let dir = temp_dir();
        let path = write(
            dir.path(),
            "date,kind,hours,name\n2027-12-31,coverage-ends,,2027 list\n",
        );
        let current = CalendarStore::with_file(path).current();
        assert_eq!(current.error, None);
        assert_eq!(
            current.calendar.coverage(Segment::NseCm).map(|c| c.ends),
            NaiveDate::from_ymd_opt(2027, 12, 31)
        );
        assert!(current.overrides.is_some());
    }

    #[test]
    fn bad_file_keeps_the_last_good_calendar_and_reports_lines() {
        let dir = temp_dir();
        let path = write(
            dir.path(),
            "date,kind,hours,name\n2027-12-31,coverage-ends,,2027 list\n",
        );
        let store = CalendarStore::with_file(path.clone());
        std::fs::write(
            &path,
            "date,kind,hours,name\n2027-01-26,clsoed,,Republic Day\n",
        )
        .unwrap();
        let error = store.reload().expect("an error");
        assert!(error.ends_with("calendar.csv: line 2: unknown kind `clsoed`: expected closed, session, unpublished, template, coverage-starts or coverage-ends"), "{error}");
        let current = store.current();
        assert_eq!(
            current.error.as_deref(),
            Some(
                "calendar.csv: line 2: unknown kind …: expected closed, session, unpublished, \
                 template, coverage-starts or coverage-ends"
            )
        );
        assert_eq!(
            current.calendar.coverage(Segment::NseCm).map(|c| c.ends),
            NaiveDate::from_ymd_opt(2027, 12, 31)
        );
        // Fixing the file clears the error.
        std::fs::write(
            &path,
            "date,kind,hours,name\n2027-01-26,closed,,Republic Day\n",
        )
        .unwrap();
        assert_eq!(store.reload(), None);
        assert_eq!(store.current().error, None);
    }

    #[test]
    fn missing_file_falls_back_to_the_builtin_calendar() {
        let store = CalendarStore::with_file(PathBuf::from("/nonexistent/marketwarden.csv"));
        let current = store.current();
        assert_eq!(
            current.error.as_deref(),
            Some("cannot read marketwarden.csv: entity not found"),
            "the file's name and the problem, not its folder"
        );
        assert_eq!(*current.calendar, Calendar::builtin());
        assert_eq!(current.overrides, None);
    }
}
