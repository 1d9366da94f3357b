use super::*;
use crate::Segment;
use alloc::string::ToString;
use chrono::TimeDelta;

fn shifted(at: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(delta).expect("instant in range")
}

/// An instant given as an IST wall-clock time with nanoseconds.
fn ist(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
    let naive = NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|date| date.and_hms_nano_opt(h, mi, s, nanos))
        .expect("valid local time");
    IST.from_local_datetime(&naive)
        .single()
        .expect("IST has no gaps")
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

const NS_BEFORE: u32 = 999_999_999;

fn phase_at(calendar: &Calendar, now: DateTime<Utc>) -> MarketPhase {
    calendar.session_at(now).phase
}

#[test]
fn builtin_calendar_parses_and_covers_2024_to_2026() {
    let calendar = Calendar::builtin();
    for segment in Segment::EQUITY {
        assert_eq!(
            calendar.coverage(segment),
            Some(Coverage {
                starts: date(2024, 1, 1),
                ends: date(2026, 12, 31)
            }),
            "{segment}"
        );
    }
    assert_eq!(calendar.coverage(Segment::Cds), None);
    assert_eq!(calendar.coverage(Segment::Mcx), None);
}

#[test]
fn regular_day_phases_are_half_open_at_every_edge() {
    let calendar = Calendar::builtin();
    // Monday 2026-11-30.
    let cases = [
        (ist(2026, 11, 30, 8, 59, 59, NS_BEFORE), MarketPhase::Closed),
        (ist(2026, 11, 30, 9, 0, 0, 0), MarketPhase::PreOpen),
        (
            ist(2026, 11, 30, 9, 6, 59, 999_000_000),
            MarketPhase::PreOpen,
        ),
        (ist(2026, 11, 30, 9, 6, 59, NS_BEFORE), MarketPhase::PreOpen),
        (ist(2026, 11, 30, 9, 7, 0, 0), MarketPhase::AuctionFreeze),
        (
            ist(2026, 11, 30, 9, 14, 59, NS_BEFORE),
            MarketPhase::AuctionFreeze,
        ),
        (ist(2026, 11, 30, 9, 15, 0, 0), MarketPhase::Live),
        (ist(2026, 11, 30, 15, 29, 59, NS_BEFORE), MarketPhase::Live),
        (ist(2026, 11, 30, 15, 30, 0, 0), MarketPhase::Closed),
        (
            ist(2026, 11, 30, 23, 59, 59, NS_BEFORE),
            MarketPhase::Closed,
        ),
        (ist(2026, 12, 1, 0, 0, 0, 0), MarketPhase::Closed),
    ];
    for (now, expected) in cases {
        assert_eq!(phase_at(&calendar, now), expected, "at {now}");
    }
}

#[test]
fn weekends_are_closed_all_day() {
    let calendar = Calendar::builtin();
    for day in [28, 29] {
        for (h, m) in [(0, 0), (9, 0), (9, 10), (12, 0), (15, 29), (23, 59)] {
            let session = calendar.session_at(ist(2026, 11, day, h, m, 0, 0));
            assert_eq!(session.phase, MarketPhase::Closed);
            assert_eq!(session.closed_reason, Some(ClosedReason::Weekend));
            assert_eq!(session.day, TradingDay::Weekend);
        }
    }
}

#[test]
fn closed_reason_tells_before_open_from_after_close() {
    let calendar = Calendar::builtin();
    let reason = |h, m| {
        calendar
            .session_at(ist(2026, 11, 30, h, m, 0, 0))
            .closed_reason
    };
    assert_eq!(reason(8, 0), Some(ClosedReason::BeforeOpen));
    assert_eq!(reason(15, 30), Some(ClosedReason::AfterClose));
    assert_eq!(reason(10, 0), None);
}

#[test]
fn holiday_is_closed_all_day_with_its_name() {
    let calendar = Calendar::builtin();
    for (h, m) in [(0, 0), (9, 0), (9, 10), (12, 0), (15, 29)] {
        let session = calendar.session_at(ist(2026, 11, 10, h, m, 0, 0));
        assert_eq!(session.phase, MarketPhase::Closed);
        assert_eq!(session.closed_reason, Some(ClosedReason::Holiday));
        assert_eq!(
            session.day,
            TradingDay::Holiday {
                name: "Diwali-Balipratipada"
            }
        );
    }
}

#[test]
fn muhurat_day_is_live_only_in_its_window() {
    let calendar = Calendar::builtin();
    // 2024-11-01: pre-open 17:45-18:00, trading 18:00-19:00.
    let cases = [
        (ist(2024, 11, 1, 9, 15, 0, 0), MarketPhase::Closed),
        (ist(2024, 11, 1, 17, 44, 59, NS_BEFORE), MarketPhase::Closed),
        (ist(2024, 11, 1, 17, 45, 0, 0), MarketPhase::PreOpen),
        (
            ist(2024, 11, 1, 17, 51, 59, NS_BEFORE),
            MarketPhase::PreOpen,
        ),
        (ist(2024, 11, 1, 17, 52, 0, 0), MarketPhase::AuctionFreeze),
        (
            ist(2024, 11, 1, 17, 59, 59, NS_BEFORE),
            MarketPhase::AuctionFreeze,
        ),
        (ist(2024, 11, 1, 18, 0, 0, 0), MarketPhase::Live),
        (ist(2024, 11, 1, 18, 59, 59, NS_BEFORE), MarketPhase::Live),
        (ist(2024, 11, 1, 19, 0, 0, 0), MarketPhase::Closed),
        // 2025-10-21: pre-open 13:30-13:45, trading 13:45-14:45.
        (ist(2025, 10, 21, 9, 15, 0, 0), MarketPhase::Closed),
        (ist(2025, 10, 21, 13, 30, 0, 0), MarketPhase::PreOpen),
        (ist(2025, 10, 21, 13, 37, 0, 0), MarketPhase::AuctionFreeze),
        (ist(2025, 10, 21, 13, 45, 0, 0), MarketPhase::Live),
        (ist(2025, 10, 21, 14, 44, 59, NS_BEFORE), MarketPhase::Live),
        (ist(2025, 10, 21, 14, 45, 0, 0), MarketPhase::Closed),
    ];
    for (now, expected) in cases {
        assert_eq!(phase_at(&calendar, now), expected, "at {now}");
    }
    let morning = calendar.session_at(ist(2024, 11, 1, 9, 15, 0, 0));
    assert_eq!(morning.closed_reason, Some(ClosedReason::BeforeOpen));
    assert_eq!(
        morning.next_change.map(|c| c.at),
        Some(ist(2024, 11, 1, 17, 45, 0, 0))
    );
}

#[test]
fn unpublished_muhurat_is_closed_with_a_note_never_a_guess() {
    let calendar = Calendar::builtin();
    for h in 0..24 {
        let session = calendar.session_at(ist(2026, 11, 8, h, 30, 0, 0));
        assert_eq!(session.phase, MarketPhase::Closed, "at {h}:30");
        assert_eq!(
            session.closed_reason,
            Some(ClosedReason::TimingsNotPublished)
        );
    }
    // Sunday night: next comes Monday's regular pre-open.
    let late = calendar.session_at(ist(2026, 11, 8, 23, 0, 0, 0));
    assert_eq!(
        late.next_change.map(|c| c.at),
        Some(ist(2026, 11, 9, 9, 0, 0, 0))
    );
}

#[test]
fn disaster_recovery_saturdays_have_their_own_windows() {
    let calendar = Calendar::builtin();
    let cases = [
        // 2024-03-02: pre-open 09:00, trading 09:15-10:00; pre-open 11:15, trading 11:30-12:30.
        (ist(2024, 3, 2, 9, 0, 0, 0), MarketPhase::PreOpen),
        (ist(2024, 3, 2, 9, 15, 0, 0), MarketPhase::Live),
        (ist(2024, 3, 2, 10, 0, 0, 0), MarketPhase::Closed),
        (ist(2024, 3, 2, 11, 15, 0, 0), MarketPhase::PreOpen),
        (ist(2024, 3, 2, 11, 22, 0, 0), MarketPhase::AuctionFreeze),
        (ist(2024, 3, 2, 11, 30, 0, 0), MarketPhase::Live),
        (ist(2024, 3, 2, 12, 29, 59, NS_BEFORE), MarketPhase::Live),
        (ist(2024, 3, 2, 12, 30, 0, 0), MarketPhase::Closed),
        // 2024-05-18: trading 09:15-10:00 and 11:45-12:40 (no pre-open published).
        (ist(2024, 5, 18, 9, 0, 0, 0), MarketPhase::Closed),
        (ist(2024, 5, 18, 9, 15, 0, 0), MarketPhase::Live),
        (ist(2024, 5, 18, 10, 30, 0, 0), MarketPhase::Closed),
        (ist(2024, 5, 18, 11, 45, 0, 0), MarketPhase::Live),
        (ist(2024, 5, 18, 12, 40, 0, 0), MarketPhase::Closed),
    ];
    for (now, expected) in cases {
        assert_eq!(phase_at(&calendar, now), expected, "at {now}");
    }
    let gap = calendar.session_at(ist(2024, 3, 2, 10, 30, 0, 0));
    assert_eq!(gap.closed_reason, Some(ClosedReason::BetweenSessions));
    assert_eq!(
        gap.next_change.map(|c| (c.at, c.phase)),
        Some((ist(2024, 3, 2, 11, 15, 0, 0), MarketPhase::PreOpen))
    );
}

/// Every row of the reference CSV (shared/reference/nse-holidays-2024-2026.csv, copied verbatim).
#[test]
fn every_row_of_the_reference_csv_is_honoured() {
    let calendar = Calendar::builtin();
    let csv = include_str!("../../tests/data/nse-holidays-2024-2026.csv");
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let mut fields = line.splitn(4, ',');
        let day = NaiveDate::parse_from_str(fields.next().unwrap(), "%Y-%m-%d").unwrap();
        let _weekday = fields.next();
        let kind = fields.next().unwrap();
        let at = |h, m| {
            let now = ist_to_utc(day, NaiveTime::from_hms_opt(h, m, 0).unwrap()).unwrap();
            calendar.session_at(now)
        };
        match kind {
            "closed" => {
                assert_eq!(at(10, 0).phase, MarketPhase::Closed, "{day}");
                assert_eq!(
                    at(10, 0).closed_reason,
                    Some(ClosedReason::Holiday),
                    "{day}"
                );
            }
            "weekend_holiday" => assert_eq!(
                at(10, 0).closed_reason,
                Some(ClosedReason::Weekend),
                "{day}"
            ),
            "special_session" => {
                assert_eq!(at(9, 15).phase, MarketPhase::Live, "{day}");
                assert!(matches!(at(9, 15).day, TradingDay::Special { .. }), "{day}");
            }
            "muhurat" => {
                assert_eq!(
                    at(10, 0).phase,
                    MarketPhase::Closed,
                    "{day}: regular hours are closed"
                );
                let live_somewhere =
                    (0..24 * 60).any(|m| at(m / 60, m % 60).phase == MarketPhase::Live);
                let published = !line.contains("timings not published");
                assert_eq!(live_somewhere, published, "{day}");
            }
            other => panic!("unknown kind {other} in the reference CSV"),
        }
        checked += 1;
    }
    assert_eq!(checked, 63);
    // Closures per year as the annual lists give them (weekday closures, Muhurat days included).
    for (year, expected) in [(2024, 17), (2025, 14), (2026, 16)] {
        let mut day = date(year, 1, 1);
        let mut closures = 0;
        while day.year() == year {
            let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            let regular_hours_closed = calendar
                .session_at(ist_to_utc(day, hm(10, 0)).unwrap())
                .phase
                == MarketPhase::Closed;
            closures += u32::from(weekday && regular_hours_closed);
            day = day.succ_opt().unwrap();
        }
        assert_eq!(closures, expected, "{year}");
    }
}

#[test]
fn next_change_walks_through_the_day() {
    let calendar = Calendar::builtin();
    let steps = [
        (
            ist(2026, 11, 30, 3, 0, 0, 0),
            ist(2026, 11, 30, 9, 0, 0, 0),
            MarketPhase::PreOpen,
        ),
        (
            ist(2026, 11, 30, 9, 0, 0, 0),
            ist(2026, 11, 30, 9, 7, 0, 0),
            MarketPhase::AuctionFreeze,
        ),
        (
            ist(2026, 11, 30, 9, 7, 0, 0),
            ist(2026, 11, 30, 9, 15, 0, 0),
            MarketPhase::Live,
        ),
        (
            ist(2026, 11, 30, 9, 15, 0, 0),
            ist(2026, 11, 30, 15, 30, 0, 0),
            MarketPhase::Closed,
        ),
        (
            ist(2026, 11, 30, 15, 30, 0, 0),
            ist(2026, 12, 1, 9, 0, 0, 0),
            MarketPhase::PreOpen,
        ),
    ];
    for (now, at, phase) in steps {
        assert_eq!(
            calendar.session_at(now).next_change,
            Some(PhaseChange { at, phase }),
            "from {now}"
        );
    }
}

#[test]
fn next_change_crosses_weekends_and_holidays() {
    let calendar = Calendar::builtin();
    let cases = [
        // Friday close to Monday's pre-open.
        (
            ist(2026, 11, 27, 15, 30, 0, 0),
            ist(2026, 11, 30, 9, 0, 0, 0),
        ),
        (
            ist(2026, 11, 29, 23, 59, 59, NS_BEFORE),
            ist(2026, 11, 30, 9, 0, 0, 0),
        ),
        // Monday 2026-11-23 close, Tuesday 11-24 a holiday: Wednesday's pre-open.
        (
            ist(2026, 11, 23, 15, 30, 0, 0),
            ist(2026, 11, 25, 9, 0, 0, 0),
        ),
        // Friday 2026-01-30 close, Sunday 02-01 the Budget session.
        (ist(2026, 1, 30, 15, 30, 0, 0), ist(2026, 2, 1, 9, 0, 0, 0)),
        // Monday 2025-10-20 close: Tuesday's Muhurat pre-open at 13:30 (regular hours closed).
        (
            ist(2025, 10, 20, 15, 30, 0, 0),
            ist(2025, 10, 21, 13, 30, 0, 0),
        ),
        // After Muhurat 2025: 10-22 a holiday, so Thursday 10-23.
        (
            ist(2025, 10, 21, 14, 45, 0, 0),
            ist(2025, 10, 23, 9, 0, 0, 0),
        ),
    ];
    for (now, expected) in cases {
        let next = calendar.session_at(now).next_change.expect("a next change");
        assert_eq!(
            (next.at, next.phase),
            (expected, MarketPhase::PreOpen),
            "from {now}"
        );
    }
}

#[test]
fn seconds_to_next_phase_rounds_up_and_reaches_zero_at_the_change() {
    let calendar = Calendar::builtin();
    let open = ist(2026, 11, 30, 9, 0, 0, 0);
    for (now, expected) in [
        (shifted(open, TimeDelta::seconds(-90)), 90),
        (shifted(open, TimeDelta::milliseconds(-1500)), 2),
        (shifted(open, TimeDelta::nanoseconds(-1)), 1),
    ] {
        assert_eq!(
            calendar.session_at(now).seconds_to_next_phase(now),
            Some(expected)
        );
    }
    let friday_close = ist(2026, 11, 27, 15, 30, 0, 0);
    let expected = ((2 * 24 + 17) * 60 + 30) * 60;
    assert_eq!(
        calendar
            .session_at(friday_close)
            .seconds_to_next_phase(friday_close),
        Some(expected)
    );
}

#[test]
fn coverage_warning_when_the_date_or_the_next_change_is_not_covered() {
    let calendar = Calendar::builtin();
    let warning = |now| calendar.session_at(now).coverage_warning();
    assert_eq!(warning(ist(2026, 11, 30, 23, 59, 59, NS_BEFORE)), None);
    // From 30 days before the list ends, a heads-up.
    for now in [ist(2026, 12, 1, 0, 0, 0, 0), ist(2026, 12, 30, 10, 0, 0, 0)] {
        assert_eq!(
            warning(now).as_deref(),
            Some("NSE holiday list for 2027 not loaded — coverage ends 31 Dec"),
            "{now}"
        );
    }
    // Thursday 2026-12-31 after the close: the next session is in 2027.
    assert_eq!(
        warning(ist(2026, 12, 31, 16, 0, 0, 0)).as_deref(),
        Some("NSE holiday list for 2027 not loaded")
    );
    // Weekday rules still give a phase past the coverage.
    let session = calendar.session_at(ist(2027, 3, 1, 10, 0, 0, 0));
    assert_eq!(session.phase, MarketPhase::Live);
    assert_eq!(session.coverage.map(|c| c.ends), Some(date(2026, 12, 31)));
    assert_eq!(
        session.coverage_warning().as_deref(),
        Some("NSE holiday list for 2027 not loaded")
    );
    assert_eq!(
        warning(ist(2023, 6, 1, 10, 0, 0, 0)).as_deref(),
        Some("NSE holiday list for 2023 not loaded")
    );
    // A segment without a holiday list says so in every answer.
    let mcx = calendar.session(Segment::Mcx, ist(2026, 6, 1, 10, 0, 0, 0), View::Exchange);
    assert_eq!(mcx.phase, MarketPhase::Live);
    assert_eq!(
        mcx.coverage_warning().as_deref(),
        Some("MCX holiday list for 2026 not loaded")
    );
}

#[test]
fn overrides_add_closures_sessions_and_coverage() {
    let text = "\
# 2027 list, and the 2021 outage re-opening
date,kind,hours,name
2027-12-31,coverage-ends,,NSE holiday list 2027
2021-01-01,coverage-starts,,
2027-01-26,closed,,Republic Day
2021-02-24,session,pre-open 09:00 trading 09:15-11:40; pre-open 15:30 trading 15:45-17:00,Trading halt and re-opening
2026-11-08,session,pre-open 13:30 trading 13:45-14:45,\"Muhurat trading, Samvat 2083\"
";
    let calendar = Calendar::builtin()
        .with_overrides(text)
        .expect("valid overrides");
    assert_eq!(
        calendar.coverage(Segment::NseCm),
        Some(Coverage {
            starts: date(2021, 1, 1),
            ends: date(2027, 12, 31)
        })
    );
    assert_eq!(
        phase_at(&calendar, ist(2027, 1, 26, 10, 0, 0, 0)),
        MarketPhase::Closed
    );
    let outage = [
        (ist(2021, 2, 24, 11, 39, 0, 0), MarketPhase::Live),
        (ist(2021, 2, 24, 11, 40, 0, 0), MarketPhase::Closed),
        (ist(2021, 2, 24, 15, 30, 0, 0), MarketPhase::PreOpen),
        (ist(2021, 2, 24, 15, 37, 0, 0), MarketPhase::AuctionFreeze),
        (ist(2021, 2, 24, 16, 59, 0, 0), MarketPhase::Live),
        (ist(2021, 2, 24, 17, 0, 0, 0), MarketPhase::Closed),
    ];
    for (now, expected) in outage {
        assert_eq!(phase_at(&calendar, now), expected, "at {now}");
    }
    let muhurat = calendar.session_at(ist(2026, 11, 8, 14, 0, 0, 0));
    assert_eq!(muhurat.phase, MarketPhase::Live);
    assert_eq!(
        muhurat.day,
        TradingDay::Special {
            name: "Muhurat trading, Samvat 2083"
        }
    );
    // The original is untouched.
    assert_eq!(
        phase_at(&Calendar::builtin(), ist(2026, 11, 8, 14, 0, 0, 0)),
        MarketPhase::Closed
    );
}

#[test]
fn a_session_row_can_reopen_a_listed_holiday() {
    let text = "date,kind,hours,name\n2026-12-25,session,,Christmas session\n";
    let calendar = Calendar::builtin().with_overrides(text).expect("valid");
    assert_eq!(
        phase_at(&calendar, ist(2026, 12, 25, 10, 0, 0, 0)),
        MarketPhase::Live
    );
}

#[test]
fn bad_files_report_every_problem_with_its_line() {
    let text = "\
# a comment
date,kind,hours,name
2027-01-26,clsoed,,Republic Day
2027-02-30,closed,,No such date
2027-03-01,closed,,
2027-03-02,session,trading 15:30-09:15,Backwards
2027-03-03,session,pre-open 09:10 trading 09:15-15:30,Short pre-open
2027-03-04,session,trading 09:15-10:00; trading 09:30-11:00,Overlap
2027-03-05,session,opens 9am,Gibberish
2027-03-06,closed,09:15-15:30,Closed with hours
2027-03-07,closed,,\"Unclosed quote
2027-03-08,closed
2027-03-09,closed,,First
2027-03-09,closed,,Second
2027-03-10,session,trading 25:00-26:00,Bad time
";
    let error = Calendar::builtin()
        .with_overrides(text)
        .expect_err("invalid");
    let lines: Vec<usize> = error.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15]);
    let report = error.to_string();
    for needle in [
        "line 3: unknown kind `clsoed`",
        "line 4: `2027-02-30` is not a date",
        "line 5: `closed` needs a name",
        "line 6: trading 15:30-09:15 ends before it starts",
        "line 7: pre-open at 09:10 must start at least 7 minutes before trading at 09:15",
        "line 8: live at 09:30 starts before the previous phase ends (10:00)",
        "line 9: hours `opens 9am` are not",
        "line 10: `closed` takes no hours",
        "line 11: a quoted field is not closed",
        "line 12: expected 4 fields",
        "line 14: 2027-03-09 nse-cm is already given on line 13",
        "line 15: `25:00` is not a time",
    ] {
        assert!(report.contains(needle), "missing `{needle}` in:\n{report}");
    }
}

#[test]
fn file_without_header_or_template_is_refused() {
    let error =
        Calendar::from_file_text("2027-01-26,closed,,Republic Day\n").expect_err("no header");
    assert!(
        error.to_string().starts_with("line 1: expected the header"),
        "{error}"
    );
    let error = Calendar::from_file_text("").expect_err("empty");
    assert!(error.to_string().contains("the file is empty"), "{error}");
    let error = Calendar::from_file_text("date,kind,hours,name\n").expect_err("no template");
    assert_eq!(
        error.to_string(),
        "a complete calendar needs a template row: without the regular day no day trades"
    );
    let error = Calendar::builtin()
        .with_overrides("date,kind,hours,name\n2023-01-01,coverage-ends,,\n")
        .expect_err("inverted");
    assert!(error.to_string().contains("after it ends"), "{error}");
}

#[test]
fn arbitrary_bytes_never_panic_the_parser() {
    let samples = [
        "date,kind,hours,name\n,,,\n",
        "date,kind,hours,name\n\"\"\"\n",
        "date,kind,hours,name\n2027-01-01,session,pre-open 23:58 trading 23:59-00:01,x\n",
        "date,kind,hours,name\n2027-01-01,session,pre-open 23:55 trading 23:59-23:58,x\n",
        "date,kind,hours,name\n2027-01-01,session,;;,x\n",
        "date,kind,hours,name\n2027-01-01,session,trading 09:15-,x\n",
        "date,kind,hours,name\n+275760-01-01,closed,,x\n",
        "\u{feff}date,kind,hours,name\n\u{0}\u{7f}é,🙂,,\n",
    ];
    for text in samples {
        let _ = Calendar::builtin().with_overrides(text);
    }
}

#[test]
fn answer_is_the_same_for_the_same_instant_in_any_offset() {
    use chrono::FixedOffset;
    let calendar = Calendar::builtin();
    let instant = ist(2026, 11, 30, 9, 15, 0, 0);
    for offset_hours in [-11, -5, 0, 1, 9, 14] {
        let offset = FixedOffset::east_opt(offset_hours * 3600).expect("valid offset");
        let elsewhere = instant.with_timezone(&offset).with_timezone(&Utc);
        assert_eq!(calendar.session_at(elsewhere), calendar.session_at(instant));
    }
}

/// Every minute boundary of 2024-2026 (and the first days of 2027) in `segment` and `view`: the
/// next change is strictly later, the phase holds until one nanosecond before it, and changes
/// at it.
fn sweep_every_minute(segment: Segment, view: View) {
    let calendar = Calendar::builtin();
    let start = ist(2024, 1, 1, 0, 0, 0, 0);
    let minutes = (date(2027, 1, 8) - date(2024, 1, 1)).num_minutes();
    let mut checked_change = None;
    for minute in 0..minutes {
        let now = shifted(start, TimeDelta::minutes(minute));
        let session = calendar.session(segment, now, view);
        let next = session.next_change.expect("a next change within 31 days");
        assert!(next.at > now, "next change {} not after {now}", next.at);
        assert_ne!(next.phase, session.phase, "at {now}");
        // Each change is verified once, not once per minute before it.
        if checked_change != Some(next.at) {
            let just_before = shifted(next.at, TimeDelta::nanoseconds(-1));
            assert_eq!(
                calendar.session(segment, just_before, view).phase,
                session.phase,
                "{segment} from {now}"
            );
            assert_eq!(
                calendar.session(segment, next.at, view).phase,
                next.phase,
                "{segment} at {}",
                next.at
            );
            checked_change = Some(next.at);
        }
    }
}

#[test]
fn phase_is_constant_until_the_next_change_every_minute_2024_to_2026() {
    sweep_every_minute(Segment::NseCm, View::Specification);
}

#[test]
fn every_minute_nse_cash_in_the_exchanges_phases() {
    sweep_every_minute(Segment::NseCm, View::Exchange);
}

#[test]
fn every_minute_nse_fo() {
    sweep_every_minute(Segment::NseFo, View::Exchange);
}

#[test]
fn every_minute_bse_cash() {
    sweep_every_minute(Segment::BseCm, View::Exchange);
}

#[test]
fn every_minute_bse_fo() {
    sweep_every_minute(Segment::BseFo, View::Exchange);
}

#[test]
fn every_minute_currency() {
    sweep_every_minute(Segment::Cds, View::Exchange);
}

#[test]
fn every_minute_mcx() {
    sweep_every_minute(Segment::Mcx, View::Exchange);
}

/// An IST date, a time (h, m, s, nanoseconds) and the phase expected then.
type Row = ((i32, u32, u32), (u32, u32, u32, u32), MarketPhase);

/// `rows` for `segment` in `view`.
fn check_table(segment: Segment, view: View, rows: &[Row]) {
    let calendar = Calendar::builtin();
    for ((y, mo, d), (h, mi, sec, nanos), expected) in rows {
        let now = ist(*y, *mo, *d, *h, *mi, *sec, *nanos);
        assert_eq!(
            calendar.session(segment, now, view).phase,
            *expected,
            "{segment} at {y}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02}.{nanos:09} IST"
        );
    }
}

use MarketPhase::{
    AuctionFreeze as Freeze, Closed as Shut, ClosingAuction as Auction, Live as Trading,
    PostClose as Post, PreOpen as Pre,
};

#[test]
fn nse_cash_gains_the_closing_auction_and_a_later_post_close_on_2026_08_03() {
    const N: u32 = NS_BEFORE;
    // Friday 2026-07-31 (the old day) and Monday 2026-08-03 (the new one), at each edge.
    check_table(
        Segment::NseCm,
        View::Exchange,
        &[
            ((2026, 7, 31), (15, 29, 59, N), Trading),
            ((2026, 7, 31), (15, 30, 0, 0), Shut),
            ((2026, 7, 31), (15, 39, 59, N), Shut),
            ((2026, 7, 31), (15, 40, 0, 0), Post),
            ((2026, 7, 31), (15, 59, 59, N), Post),
            ((2026, 7, 31), (16, 0, 0, 0), Shut),
            ((2026, 8, 3), (8, 59, 59, N), Shut),
            ((2026, 8, 3), (9, 0, 0, 0), Pre),
            ((2026, 8, 3), (9, 7, 0, 0), Freeze),
            ((2026, 8, 3), (9, 15, 0, 0), Trading),
            ((2026, 8, 3), (15, 29, 59, N), Trading),
            ((2026, 8, 3), (15, 30, 0, 0), Auction),
            ((2026, 8, 3), (15, 34, 59, N), Auction),
            ((2026, 8, 3), (15, 35, 0, 0), Shut),
            ((2026, 8, 3), (15, 49, 59, N), Shut),
            ((2026, 8, 3), (15, 50, 0, 0), Post),
            ((2026, 8, 3), (15, 59, 59, N), Post),
            ((2026, 8, 3), (16, 0, 0, 0), Shut),
            // Post-close from 15:50 before 2011-10-03, from 15:40 after.
            ((2011, 9, 30), (15, 45, 0, 0), Shut),
            ((2011, 10, 3), (15, 45, 0, 0), Post),
        ],
    );
    // BSE cash runs the same grid and auction.
    check_table(
        Segment::BseCm,
        View::Exchange,
        &[
            ((2026, 7, 31), (15, 30, 0, 0), Shut),
            ((2026, 8, 3), (15, 30, 0, 0), Auction),
            ((2026, 8, 3), (15, 35, 0, 0), Shut),
            ((2026, 8, 3), (15, 50, 0, 0), Post),
        ],
    );
    // The specification's view keeps its grid: CLOSED from 15:30, on either day.
    check_table(
        Segment::NseCm,
        View::Specification,
        &[
            ((2026, 8, 3), (15, 29, 59, N), Trading),
            ((2026, 8, 3), (15, 30, 0, 0), Shut),
            ((2026, 8, 3), (15, 32, 0, 0), Shut),
            ((2026, 8, 3), (15, 55, 0, 0), Shut),
        ],
    );
    let calendar = Calendar::builtin();
    let at_1529 = calendar.session(
        Segment::NseCm,
        ist(2026, 8, 3, 15, 29, 0, 0),
        View::Specification,
    );
    let next = at_1529.next_change.unwrap();
    assert_eq!((next.at, next.phase), (ist(2026, 8, 3, 15, 30, 0, 0), Shut));
    let at_1532 = calendar.session(
        Segment::NseCm,
        ist(2026, 8, 3, 15, 32, 0, 0),
        View::Specification,
    );
    assert_eq!(at_1532.closed_reason, Some(ClosedReason::AfterClose));
    assert_eq!(
        at_1532.next_change.unwrap().at,
        ist(2026, 8, 4, 9, 0, 0, 0),
        "no stop at the auction or post-close"
    );
    let exchange = calendar.session(
        Segment::NseCm,
        ist(2026, 8, 3, 15, 29, 0, 0),
        View::Exchange,
    );
    assert_eq!(exchange.next_change.unwrap().phase, Auction);
}

#[test]
fn nse_fo_gets_its_pre_open_on_2025_12_08_and_closes_at_15_40_from_2026_08_03() {
    const N: u32 = NS_BEFORE;
    check_table(
        Segment::NseFo,
        View::Exchange,
        &[
            ((2025, 12, 5), (9, 0, 0, 0), Shut),
            ((2025, 12, 5), (9, 14, 59, N), Shut),
            ((2025, 12, 5), (9, 15, 0, 0), Trading),
            ((2025, 12, 8), (8, 59, 59, N), Shut),
            ((2025, 12, 8), (9, 0, 0, 0), Pre),
            ((2025, 12, 8), (9, 7, 0, 0), Freeze),
            ((2025, 12, 8), (9, 15, 0, 0), Trading),
            ((2026, 7, 31), (15, 29, 59, N), Trading),
            ((2026, 7, 31), (15, 30, 0, 0), Shut),
            ((2026, 8, 3), (15, 30, 0, 0), Trading),
            ((2026, 8, 3), (15, 39, 59, N), Trading),
            ((2026, 8, 3), (15, 40, 0, 0), Shut),
            ((2026, 12, 1), (15, 35, 0, 0), Trading),
            // F&O shares the equity holidays: Christmas 2026.
            ((2026, 12, 25), (10, 0, 0, 0), Shut),
        ],
    );
    check_table(
        Segment::BseFo,
        View::Exchange,
        &[
            ((2026, 8, 3), (9, 5, 0, 0), Shut),
            ((2026, 8, 3), (15, 39, 59, N), Trading),
            ((2026, 8, 3), (15, 40, 0, 0), Shut),
        ],
    );
}

#[test]
fn mcx_closes_at_23_30_in_us_summer_time_and_23_55_otherwise() {
    const N: u32 = NS_BEFORE;
    check_table(
        Segment::Mcx,
        View::Exchange,
        &[
            ((2026, 3, 6), (8, 44, 59, N), Shut),
            ((2026, 3, 6), (8, 45, 0, 0), Pre),
            ((2026, 3, 6), (8, 52, 0, 0), Freeze),
            ((2026, 3, 6), (9, 0, 0, 0), Trading),
            ((2026, 3, 6), (23, 30, 0, 0), Trading),
            ((2026, 3, 6), (23, 54, 59, N), Trading),
            ((2026, 3, 6), (23, 55, 0, 0), Shut),
            ((2026, 3, 9), (23, 29, 59, N), Trading),
            ((2026, 3, 9), (23, 30, 0, 0), Shut),
            ((2026, 10, 30), (23, 29, 59, N), Trading),
            ((2026, 10, 30), (23, 30, 0, 0), Shut),
            ((2026, 11, 2), (23, 54, 59, N), Trading),
            ((2026, 11, 2), (23, 55, 0, 0), Shut),
            // Every other switch of the data, at its edge.
            ((2024, 3, 8), (23, 54, 59, N), Trading),
            ((2024, 3, 11), (23, 30, 0, 0), Shut),
            ((2024, 11, 1), (23, 30, 0, 0), Shut),
            ((2024, 11, 4), (23, 54, 59, N), Trading),
            ((2025, 3, 7), (23, 54, 59, N), Trading),
            ((2025, 3, 10), (23, 30, 0, 0), Shut),
            ((2025, 10, 31), (23, 30, 0, 0), Shut),
            ((2025, 11, 3), (23, 54, 59, N), Trading),
            ((2027, 3, 12), (23, 54, 59, N), Trading),
            ((2027, 3, 15), (23, 29, 59, N), Trading),
            ((2027, 3, 15), (23, 30, 0, 0), Shut),
            ((2027, 11, 5), (23, 30, 0, 0), Shut),
            ((2027, 11, 8), (23, 54, 59, N), Trading),
            // Muhurat 2025 in every segment.
            ((2025, 10, 21), (10, 0, 0, 0), Shut),
            ((2025, 10, 21), (14, 0, 0, 0), Trading),
        ],
    );
    check_table(
        Segment::Cds,
        View::Exchange,
        &[
            ((2026, 12, 1), (8, 59, 59, N), Shut),
            ((2026, 12, 1), (9, 0, 0, 0), Trading),
            ((2026, 12, 1), (16, 59, 59, N), Trading),
            ((2026, 12, 1), (17, 0, 0, 0), Shut),
        ],
    );
}

#[test]
fn rows_name_their_segments_and_templates_are_data() {
    let text = "\
date,kind,hours,name,segments
2027-01-26,closed,,Republic Day,equity
2027-01-27,closed,,MCX only,mcx
2027-01-28,closed,,Every segment,all
2027-02-01,template,pre-open 09:00 trading 09:15-15:45 post-close 16:00-16:10,Longer day,nse-cm
2027-01-01,coverage-starts,,,mcx
2027-12-31,coverage-ends,,MCX holiday list 2027,mcx
2027-01-29,closed,,Default segments,
";
    let calendar = Calendar::builtin().with_overrides(text).expect("valid");
    let phase = |segment, y, m, d, h, mi| {
        calendar
            .session(segment, ist(y, m, d, h, mi, 0, 0), View::Exchange)
            .phase
    };
    assert_eq!(phase(Segment::NseFo, 2027, 1, 26, 10, 0), Shut);
    assert_eq!(phase(Segment::Mcx, 2027, 1, 26, 10, 0), Trading);
    assert_eq!(phase(Segment::Mcx, 2027, 1, 27, 10, 0), Shut);
    assert_eq!(phase(Segment::NseCm, 2027, 1, 27, 10, 0), Trading);
    for segment in Segment::ALL {
        assert_eq!(phase(segment, 2027, 1, 28, 10, 0), Shut, "{segment}");
    }
    assert_eq!(
        phase(Segment::BseCm, 2027, 1, 29, 10, 0),
        Shut,
        "equity by default"
    );
    assert_eq!(phase(Segment::Cds, 2027, 1, 29, 10, 0), Trading);
    assert_eq!(
        phase(Segment::NseCm, 2027, 2, 1, 15, 40),
        Trading,
        "the new template"
    );
    assert_eq!(phase(Segment::NseCm, 2027, 2, 1, 16, 5), Post);
    assert_eq!(
        phase(Segment::BseCm, 2027, 2, 1, 15, 40),
        Shut,
        "only nse-cm changed"
    );
    assert_eq!(
        calendar.coverage(Segment::Mcx),
        Some(Coverage {
            starts: date(2027, 1, 1),
            ends: date(2027, 12, 31)
        })
    );
    let error = Calendar::builtin()
        .with_overrides("date,kind,hours,name,segments\n2027-01-26,closed,,X,nse-xx\n2027-02-01,template,,No hours,nse-cm\n2027-03-01,session,trading 09:15-15:30 post-close 15:20-16:00,Overlap,nse-cm\n")
        .expect_err("invalid");
    let report = error.to_string();
    for needle in [
        "line 2: unknown segment `nse-xx`",
        "line 3: `template` needs the regular day's hours",
        "line 4: post-close at 15:20 starts before the previous phase ends (15:30)",
    ] {
        assert!(report.contains(needle), "missing `{needle}` in:\n{report}");
    }
}

#[test]
fn extreme_instants_do_not_panic() {
    let calendar = Calendar::builtin();
    for now in [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::UNIX_EPOCH,
    ] {
        let session = calendar.session_at(now);
        let _ = session.seconds_to_next_phase(now);
        let _ = session.coverage_warning();
    }
}

/// The fast fixed-offset path agrees with the time-zone database wherever it is used, and the
/// database path still serves older instants.
#[test]
fn fixed_offset_agrees_with_the_time_zone_database() {
    let database = |now: DateTime<Utc>| now.with_timezone(&IST).naive_local();
    let mut now = Utc.with_ymd_and_hms(1946, 1, 1, 0, 0, 0).unwrap();
    while now.year() < 2100 {
        assert_eq!(ist_wall_clock(now), database(now), "at {now}");
        let local = database(now);
        assert_eq!(
            ist_to_utc(local.date(), local.time()),
            Some(now),
            "at {now}"
        );
        now = shifted(now, TimeDelta::minutes(7919));
    }
    // 1942-09-01 was UTC+06:30 (war time): the database path gives that.
    let war_time = Utc.with_ymd_and_hms(1943, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(ist_wall_clock(war_time), database(war_time));
    assert_ne!(
        ist_wall_clock(war_time) - war_time.naive_utc(),
        TimeDelta::minutes(330)
    );
}
