use super::*;
use chrono::TimeZone;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid instant")
}

fn market_at(now: DateTime<Utc>) -> MarketHealth {
    MarketHealth::at(&Calendar::builtin(), now)
}

#[test]
fn live_market_object_has_the_seed_fields_and_values() {
    // Monday 2026-11-30, 14:00:00 IST = 08:30 UTC; the close is 90 minutes away.
    let json = serde_json::to_value(market_at(utc(2026, 11, 30, 8, 30, 0))).expect("serializable");
    assert_eq!(
        json,
        serde_json::json!({
            "phase": "LIVE",
            "exchange_phase": "LIVE",
            "title": "Market Live",
            "description": "Continuous trading. Market closes at 15:30 IST.",
            "icon": "🟢",
            "is_trading_hours": true,
            "seconds_to_next_phase": 5400,
            "next_phase": "CLOSED",
            "next_change_at": "2026-11-30T15:30:00+05:30",
            "holiday_name": null,
            "session_name": null,
            "note": null,
            "calendar_coverage_ends": "2026-12-31",
            "calendar_warning": null,
            "calendar_error": null,
            "segments": [{
                "segment": "nse-cm",
                "label": "NSE cash",
                "phase": "LIVE",
                "title": "Market Live",
                "is_trading_hours": true,
                "seconds_to_next_phase": 5400,
                "next_phase": "CLOSING_AUCTION",
                "next_change_at": "2026-11-30T15:30:00+05:30",
                "holiday_name": null,
                "session_name": null,
                "calendar_coverage_ends": "2026-12-31",
                "calendar_warning": null,
            }],
        })
    );
}

#[test]
fn every_phase_has_its_own_title_icon_and_trading_flag() {
    let cases = [
        (
            utc(2026, 11, 30, 3, 31, 0),
            "PRE_OPEN",
            "Pre-Open Session",
            "🔵",
            true,
        ),
        (
            utc(2026, 11, 30, 3, 40, 0),
            "AUCTION_FREEZE",
            "Auction Freeze",
            "🔵",
            true,
        ),
        (
            utc(2026, 11, 30, 4, 0, 0),
            "LIVE",
            "Market Live",
            "🟢",
            true,
        ),
        (
            utc(2026, 11, 30, 1, 0, 0),
            "CLOSED",
            "Market Closed",
            "🔴",
            false,
        ),
        (
            utc(2026, 11, 29, 4, 0, 0),
            "CLOSED",
            "Market Closed",
            "🔴",
            false,
        ),
    ];
    for (now, phase, title, icon, trading) in cases {
        let market = market_at(now);
        assert_eq!(market.phase.as_str(), phase, "at {now}");
        assert_eq!(market.title, title, "at {now}");
        assert_eq!(market.icon, icon, "at {now}");
        assert_eq!(market.is_trading_hours, trading, "at {now}");
    }
}

#[test]
fn description_names_the_day_when_the_change_is_not_today() {
    let market = market_at(utc(2026, 11, 30, 12, 0, 0));
    assert_eq!(
        market.description,
        "Trading has ended for the day. Pre-open starts Tue 1 Dec at 09:00 IST."
    );
    let market = market_at(utc(2026, 11, 30, 2, 0, 0));
    assert_eq!(
        market.description,
        "Before the pre-open. Pre-open starts at 09:00 IST."
    );
}

#[test]
fn holiday_carries_its_name_in_the_description() {
    // Tuesday 2026-11-10, noon IST.
    let market = market_at(utc(2026, 11, 10, 6, 30, 0));
    assert_eq!(market.title, "Market Closed");
    assert_eq!(market.holiday_name.as_deref(), Some("Diwali-Balipratipada"));
    assert_eq!(
        market.description,
        "Trading holiday: Diwali-Balipratipada. Pre-open starts Wed 11 Nov at 09:00 IST."
    );
}

#[test]
fn muhurat_session_is_named_before_during_and_after() {
    // 2024-11-01: 10:00, 18:30 and 19:30 IST.
    let before = market_at(utc(2024, 11, 1, 4, 30, 0));
    assert_eq!(before.title, "Market Closed");
    assert_eq!(
        before.description,
        "Diwali Laxmi Pujan: Muhurat trading later today. Pre-open starts at 17:45 IST."
    );
    let during = market_at(utc(2024, 11, 1, 13, 0, 0));
    assert_eq!(during.title, "Market Live");
    assert_eq!(
        during.session_name.as_deref(),
        Some("Diwali Laxmi Pujan: Muhurat trading")
    );
    assert_eq!(
        during.description,
        "Diwali Laxmi Pujan: Muhurat trading. Market closes at 19:00 IST."
    );
    let after = market_at(utc(2024, 11, 1, 14, 0, 0));
    assert_eq!(
        after.description,
        "Trading has ended for the day. Pre-open starts Mon 4 Nov at 09:00 IST."
    );
}

#[test]
fn unpublished_session_is_closed_with_a_note() {
    // Sunday 2026-11-08, 18:00 IST.
    let market = market_at(utc(2026, 11, 8, 12, 30, 0));
    assert_eq!(market.phase, MarketPhase::Closed);
    assert_eq!(market.title, "Market Closed");
    assert!(market.description.starts_with(
        "Diwali Laxmi Pujan: Muhurat trading: session timings are not published yet."
    ));
    let note = market.note.expect("a note");
    assert!(note.contains("NSE has not published the timings"), "{note}");
}

#[test]
fn coverage_warning_reaches_the_market_object() {
    let market = market_at(utc(2027, 3, 1, 4, 30, 0));
    assert_eq!(market.phase, MarketPhase::Live);
    assert_eq!(
        market.calendar_warning.as_deref(),
        Some("NSE holiday list for 2027 not loaded")
    );
    assert_eq!(
        market
            .calendar_coverage_ends
            .map(|date| date.to_string())
            .as_deref(),
        Some("2026-12-31")
    );
}

#[test]
fn countdown_label_names_the_next_phase() {
    let market = market_at(utc(2026, 11, 30, 3, 40, 0));
    assert_eq!(
        market.countdown_label().as_deref(),
        Some("Trading starts in 05:00")
    );
}

#[test]
fn snapshot_round_trips_through_json() {
    let snapshot = MarketSnapshot::at(utc(2026, 11, 28, 23, 47, 3));
    let json = serde_json::to_string(&snapshot).expect("serializable");
    let back: MarketSnapshot = serde_json::from_str(&json).expect("deserializable");
    assert_eq!(back, snapshot);
}

#[test]
fn snapshot_rebuilds_the_servers_calendar_from_its_overrides() {
    let mut snapshot = MarketSnapshot::at(utc(2026, 11, 30, 4, 30, 0));
    assert_eq!(snapshot.calendar(), Calendar::builtin());
    let overrides = "date,kind,hours,name\n2026-11-30,closed,,Snap closure\n";
    snapshot.calendar_overrides = Some(overrides.into());
    let calendar = snapshot.calendar();
    assert_eq!(
        MarketHealth::at(&calendar, snapshot.server_time).description,
        "Trading holiday: Snap closure. Pre-open starts Tue 1 Dec at 09:00 IST."
    );
}
