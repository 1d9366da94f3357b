use super::*;
use chrono::TimeZone;

fn issued() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 3, 20, 12).unwrap()
}

#[test]
fn reads_bare_quoted_exported_and_commented_values() {
    let file = EnvFile::parse(
        "# Kite\nexport ZERODHA_API_KEY=abc123 # the app key\nZERODHA_API_SECRET = \"s e\\\"c\" # c\n\
         NAME='a # b'\nEMPTY=\nURL=http://x/#frag\n",
    );
    assert_eq!(file.problems(), &[]);
    assert_eq!(file.get("ZERODHA_API_KEY"), Some("abc123"));
    assert_eq!(file.get("ZERODHA_API_SECRET"), Some("s e\"c"));
    assert_eq!(file.get("NAME"), Some("a # b"));
    assert_eq!(file.get("EMPTY"), Some(""));
    assert_eq!(file.get_non_blank("EMPTY"), None);
    assert_eq!(file.get("URL"), Some("http://x/#frag"));
    assert_eq!(file.get("MISSING"), None);
}

#[test]
fn the_last_line_for_a_key_wins() {
    let file = EnvFile::parse("A=1\nA=2\n");
    assert_eq!(file.get("A"), Some("2"));
}

#[test]
fn bad_lines_are_reported_with_their_numbers_and_good_lines_still_read() {
    let file =
        EnvFile::parse("A=1\nthis is not a pair\n9X=2\nB=\"open\nC='also open\nD=\"x\" y\nE=3");
    let lines: Vec<usize> = file.problems().iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert_eq!(file.problems()[0].to_string(), "line 2: expected KEY=VALUE");
    assert_eq!(
        (file.get("A"), file.get("E"), file.get("B")),
        (Some("1"), Some("3"), None)
    );
}

#[test]
fn text_that_is_not_utf8_is_one_problem_and_no_values() {
    let file = EnvFile::parse_bytes(b"A=1\n\xff\xfe\n");
    assert_eq!(file.problems().len(), 1);
    assert_eq!(file.get("A"), None);
    assert!(
        !file.can_rewrite(),
        "a lossy text must never be written back"
    );
    assert!(EnvFile::parse("A=1\n").can_rewrite());
}

#[test]
fn writing_the_token_keeps_every_other_byte() {
    let original = "# keep me\r\nZERODHA_API_KEY=k  # spaces kept\r\n\n  export ZERODHA_ACCESS_TOKEN=old\r\nOTHER='x'\r\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-29T09:00:00+05:30\r\nbroken line\r\n";
    let rewritten = EnvFile::parse(original).with_token("newtoken", issued());
    assert_eq!(
        rewritten,
        "# keep me\r\nZERODHA_API_KEY=k  # spaces kept\r\n\nZERODHA_ACCESS_TOKEN=newtoken\r\nOTHER='x'\r\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:50:12+05:30\r\nbroken line\r\n"
    );
    let reread = EnvFile::parse(&rewritten);
    assert_eq!(reread.get(ACCESS_TOKEN_KEY), Some("newtoken"));
    assert_eq!(reread.issued_at(), Some(issued()));
}

#[test]
fn missing_lines_are_appended_after_a_final_newline() {
    let rewritten = EnvFile::parse("A=1").with_token("t0k3n", issued());
    assert_eq!(
        rewritten,
        "A=1\nZERODHA_ACCESS_TOKEN=t0k3n\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:50:12+05:30\n"
    );
    assert_eq!(
        EnvFile::parse("").with_token("t", issued()),
        "ZERODHA_ACCESS_TOKEN=t\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:50:12+05:30\n"
    );
}

#[test]
fn duplicates_of_the_token_line_are_dropped_and_removal_removes_all() {
    let original = "ZERODHA_ACCESS_TOKEN=a\nB=2\nZERODHA_ACCESS_TOKEN=b\n";
    let file = EnvFile::parse(original);
    let rewritten = file.with_token("c", issued());
    assert_eq!(
        rewritten,
        "ZERODHA_ACCESS_TOKEN=c\nB=2\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:50:12+05:30\n"
    );
    assert_eq!(EnvFile::parse(&rewritten).without_token(), "B=2\n");
    assert_eq!(file.without_token(), "B=2\n");
}

#[test]
fn unusual_tokens_are_quoted_and_read_back() {
    let rewritten = EnvFile::parse("").with_token("a b\"c#d", issued());
    assert_eq!(
        EnvFile::parse(&rewritten).get(ACCESS_TOKEN_KEY),
        Some("a b\"c#d")
    );
}

#[test]
fn atomic_write_replaces_the_file_with_mode_0600_and_leaves_no_temporary() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(".env");
    fs::write(&path, "A=1\n").unwrap();
    write_atomically(&path, b"A=2\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "A=2\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let names: Vec<_> = fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from(".env")]);
}

#[cfg(unix)]
#[test]
fn atomic_write_follows_a_symlink_and_keeps_it() {
    let folder = tempfile::tempdir().unwrap();
    let real = folder.path().join("real.env");
    fs::write(&real, "A=1\n").unwrap();
    let link = folder.path().join(".env");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write_atomically(&link, b"A=2\n").unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), "A=2\n");
}

/// Through a symlink the target keeps its own mode (whoever linked it decides who reads it);
/// a plain file is always 0600.
#[cfg(unix)]
#[test]
fn a_symlinks_target_keeps_its_mode_and_a_plain_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let secrets = folder.path().join("secrets");
    fs::create_dir(&secrets).unwrap();
    let real = secrets.join("kite.env");
    fs::write(&real, "A=1\n").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    let link = folder.path().join(".env");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write_atomically(&link, b"A=2\n").unwrap();
    let mode = fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(fs::read_to_string(&link).unwrap(), "A=2\n");
    let plain = folder.path().join("plain.env");
    fs::write(&plain, "A=1\n").unwrap();
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
    write_atomically(&plain, b"A=2\n").unwrap();
    let mode = fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_failed_write_leaves_the_file_and_no_temporary() {
    let folder = tempfile::tempdir().unwrap();
    // A folder where the file should be: the rename fails.
    let path = folder.path().join(".env");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), "x").unwrap();
    assert!(write_atomically(&path, b"A=2\n").is_err());
    let names: Vec<_> = fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from(".env")]);
}

#[test]
fn stale_temporaries_are_removed_and_nothing_else() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(".env");
    fs::write(folder.path().join(".env.marketwarden-1-0.tmp"), "x").unwrap();
    fs::write(folder.path().join(".env.other"), "x").unwrap();
    remove_stale_temporaries(&path);
    let names: Vec<_> = fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from(".env.other")]);
}

#[test]
fn reading_a_missing_file_is_none() {
    let folder = tempfile::tempdir().unwrap();
    assert!(read(&folder.path().join(".env")).unwrap().is_none());
}
