//! A process killed with SIGKILL in the middle of writing the token leaves `.env` whole: the old
//! token or the new one, with its own issue time, and every other line as it was.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use marketwarden_server::auth::envfile::{self, ACCESS_TOKEN_KEY, EnvFile};

const CHILD_ENV: &str = "MARKETWARDEN_CRASH_TEST_ENV_FILE";

const OPERATOR_LINES: &str = "# marketwarden, production\nZERODHA_API_KEY=abc123\r\n\n\
     ZERODHA_ACCESS_TOKEN=token00000000\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:45:00+05:30\n\
     NOTE='two words'   # kept as is\nexport OTHER = \"x y\"\n";

fn issued_at(number: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 3, 15, 0).unwrap() + TimeDelta::seconds(number as i64)
}

fn token_number(file: &EnvFile) -> u64 {
    file.get(ACCESS_TOKEN_KEY)
        .and_then(|token| token.strip_prefix("token"))
        .and_then(|digits| digits.parse().ok())
        .expect("a token written by this test")
}

/// Not a test on its own: the child process the crash test kills. It rewrites the token as fast
/// as it can, each time with the next number and a matching issue time.
#[test]
fn token_writer_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    println!("ready");
    loop {
        let file = EnvFile::parse(&std::fs::read_to_string(&path).unwrap());
        let next = token_number(&file) + 1;
        let text = file.with_token(&format!("token{next:08}"), issued_at(next));
        envfile::write_atomically(&path, text.as_bytes()).unwrap();
    }
}

fn check_whole(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).expect("the file is always there");
    let file = EnvFile::parse(&text);
    assert_eq!(file.problems(), &[], "{text}");
    let number = token_number(&file);
    assert_eq!(
        file.issued_at(),
        Some(issued_at(number)),
        "token and issue time from one write"
    );
    let expected = OPERATOR_LINES
        .replace("token00000000", &format!("token{number:08}"))
        .replace(
            "2026-11-30T08:45:00+05:30",
            &issued_at(number)
                .with_timezone(&chrono::FixedOffset::east_opt(19_800).unwrap())
                .to_rfc3339(),
        );
    assert_eq!(text, expected, "every other line byte for byte");
    #[cfg(unix)]
    if number > 0 {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    number
}

#[test]
fn a_kill_at_any_point_of_a_token_write_leaves_the_old_or_the_new_file() {
    const ROUNDS: u32 = 40;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(".env");
    std::fs::write(&path, OPERATOR_LINES).unwrap();
    let executable = std::env::current_exe().unwrap();
    // A small deterministic generator spreads the kills over the write.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut last = check_whole(&path);
    let mut rounds_that_wrote = 0;
    for _ in 0..ROUNDS {
        let mut child = Command::new(&executable)
            .args([
                "--exact",
                "crash::token_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        while !ready.contains("ready") {
            ready.clear();
            assert!(
                stdout.read_line(&mut ready).unwrap() > 0,
                "the child started"
            );
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        // Spin a random while: only where in the write loop the kill lands depends on it.
        for _ in 0..(seed >> 33) % 5_000_000 {
            std::hint::spin_loop();
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let number = check_whole(&path);
        assert!(number >= last, "never older than before");
        if number > last {
            rounds_that_wrote += 1;
        }
        last = number;
    }
    assert!(
        rounds_that_wrote > ROUNDS / 2,
        "the children wrote: {rounds_that_wrote}"
    );
    eprintln!("{ROUNDS} kills, {last} writes in all, file whole every time");
    // Temporary files a kill left behind are cleaned up by the next start.
    envfile::remove_stale_temporaries(&path);
    let names: Vec<_> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from(".env")]);
}
