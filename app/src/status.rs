//! What the banner shows, worked out from what the page knows: the market computed here from the
//! calendar and the server's clock, and the latest auth and feed objects the server sent. Pure,
//! so the server's render and the browser's first render agree, and it is tested natively.

use chrono::{DateTime, Utc};
use marketwarden_core::{
    AuthHealth, AuthState, FeedHealth, FeedState, MarketHealth, MarketPhase, PriorityStatus,
    SystemHealth, day_label, format_countdown, hh_mm, hh_mm_ss, ist_wall_clock,
};

/// The auth and feed objects as last received, with the server time they describe.
#[derive(Clone, Debug, PartialEq)]
pub struct MachineStates {
    pub auth: Option<AuthHealth>,
    pub feed: Option<FeedHealth>,
    /// The server's clock when the objects were made.
    pub reported_at: DateTime<Utc>,
}

/// Whether the page can reach its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    Connected,
    /// Unreachable since this server instant (the page's estimate of it).
    LostSince(DateTime<Utc>),
}

/// The banner's look: a CSS class, the ARIA role, the words.
#[derive(Clone, Debug, PartialEq)]
pub struct BannerModel {
    pub priority: PriorityStatus,
    /// `auth-required`, `feed-down`, or `phase-live`, `phase-pre_open`, …
    pub tone: String,
    pub role: &'static str,
    pub icon: String,
    pub title: String,
    pub description: String,
    pub show_login: bool,
    pub reconnecting: bool,
    pub offline_notice: Option<String>,
    /// The token works but could not be saved: it will not survive a restart.
    pub token_notice: Option<String>,
    /// The market session in one line, when a login or the feed takes the title.
    pub market_line: Option<String>,
    /// Other segments in use that trade while the primary one does not: "NSE F&O live until
    /// 15:40 IST".
    pub segments_line: Option<String>,
    pub details: Vec<DetailSection>,
}

/// One group of the expandable details.
#[derive(Clone, Debug, PartialEq)]
pub struct DetailSection {
    pub heading: &'static str,
    pub rows: Vec<(&'static str, String)>,
}

/// The banner at server time `now`.
pub fn banner_model(
    market: &MarketHealth,
    machines: &MachineStates,
    contact: Contact,
    now: DateTime<Utc>,
) -> BannerModel {
    let offline_notice = match contact {
        Contact::Connected => None,
        Contact::LostSince(since) => Some(format!(
            "Server unreachable since {} IST — the phase below is computed in this browser from \
             the exchange calendar",
            hh_mm_ss(ist_wall_clock(since).time())
        )),
    };
    // Without the server, the auth and feed states are unknown: only the market is shown.
    let (auth, feed) = match contact {
        Contact::Connected => (machines.auth.clone(), machines.feed.clone()),
        Contact::LostSince(_) => (None, None),
    };
    let health = SystemHealth::new(
        market.clone(),
        auth.clone()
            .unwrap_or_else(|| AuthHealth::in_state(AuthState::Valid)),
        feed.clone()
            .unwrap_or_else(|| FeedHealth::in_state(FeedState::Connected)),
        now,
        marketwarden_core::BrokerKind::Simulated,
    );
    let priority = health.priority_status;
    let details = details(market, machines, now);
    let (tone, role, icon, title, description) = match priority {
        PriorityStatus::AuthRequired => (
            "auth-required".to_string(),
            "alert",
            "🔒".to_string(),
            "Login required".to_string(),
            marketwarden_core::login_sentence(&health.auth).to_string(),
        ),
        PriorityStatus::FeedDisconnected => (
            "feed-down".to_string(),
            "alert",
            "⟳".to_string(),
            "Reconnecting…".to_string(),
            reconnect_description(&health, now),
        ),
        PriorityStatus::MarketSession => (
            format!("phase-{}", market.phase.as_str().to_ascii_lowercase()),
            "status",
            market.icon.clone(),
            market.title.clone(),
            market.description.clone(),
        ),
    };
    BannerModel {
        priority,
        tone,
        role,
        icon,
        title,
        description,
        show_login: priority == PriorityStatus::AuthRequired,
        reconnecting: priority == PriorityStatus::FeedDisconnected,
        offline_notice,
        token_notice: auth
            .as_ref()
            .filter(|auth| auth.is_valid && auth.token_not_saved.is_some())
            .map(|_| marketwarden_core::TOKEN_NOT_SAVED.to_string()),
        market_line: (priority != PriorityStatus::MarketSession)
            .then(|| format!("{} — {}", market.title, market.description)),
        segments_line: trading_elsewhere(market),
        details,
    }
}

/// The segments in use that are in trading hours while the primary one is not, e.g. "NSE F&O
/// live until 15:40 IST · MCX live until 23:55 IST"; `None` when there are none.
pub fn trading_elsewhere(market: &MarketHealth) -> Option<String> {
    if market.is_trading_hours {
        return None;
    }
    let parts: Vec<String> = market
        .segments
        .iter()
        .skip(1)
        .filter(|segment| segment.is_trading_hours)
        .map(|segment| {
            let state = match segment.phase {
                MarketPhase::Live => "live",
                MarketPhase::PreOpen => "in pre-open",
                MarketPhase::AuctionFreeze => "in the opening auction",
                MarketPhase::ClosingAuction => "in its closing auction",
                MarketPhase::PostClose | MarketPhase::Closed => "open",
            };
            match segment.next_change_at {
                Some(at) => format!("{} {state} until {} IST", segment.label, hh_mm(at.time())),
                None => format!("{} {state}", segment.label),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// "Market data feed went silent — reconnecting · attempt 3 · next try in 0:12".
fn reconnect_description(health: &SystemHealth, now: DateTime<Utc>) -> String {
    let mut text = health.priority_message.clone();
    if health.feed.reconnect_attempt > 0 && health.feed.state != FeedState::Error {
        text.push_str(&format!(" · attempt {}", health.feed.reconnect_attempt));
    }
    if let Some(at) = health.feed.next_retry_at {
        let seconds = (at - now).num_seconds().max(0) as u64;
        text.push_str(&format!(" · next try in {}", format_countdown(seconds)));
    }
    text
}

/// "3 s ago", "4 min ago", "2 h ago".
pub fn ago(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 90.0 {
        format!("{seconds:.0} s ago")
    } else if seconds < 90.0 * 60.0 {
        format!("{:.0} min ago", seconds / 60.0)
    } else {
        format!("{:.0} h ago", seconds / 3600.0)
    }
}

/// Seconds between the report and `now`, added to a "seconds ago" from the report.
fn aged(seconds_ago: f64, machines: &MachineStates, now: DateTime<Utc>) -> f64 {
    let since_report = (now - machines.reported_at).num_milliseconds() as f64 / 1000.0;
    seconds_ago + since_report.max(0.0)
}

fn details(
    market: &MarketHealth,
    machines: &MachineStates,
    now: DateTime<Utc>,
) -> Vec<DetailSection> {
    let mut sections = Vec::new();
    let mut market_rows = vec![("Phase", market.phase.as_str().to_string())];
    if let (Some(next), Some(at)) = (market.next_phase, market.next_change_at) {
        market_rows.push((
            "Next",
            format!("{} at {} IST", next.as_str(), hh_mm(at.time())),
        ));
    }
    if let Some(name) = market
        .holiday_name
        .as_ref()
        .or(market.session_name.as_ref())
    {
        market_rows.push(("Day", name.clone()));
    }
    market_rows.push((
        "Calendar covers",
        market.calendar_coverage_ends.map_or_else(
            || "no holiday list loaded".to_string(),
            |ends| format!("until {ends}"),
        ),
    ));
    for notice in [
        &market.note,
        &market.calendar_warning,
        &market.calendar_error,
    ]
    .into_iter()
    .flatten()
    {
        market_rows.push(("Notice", notice.clone()));
    }
    for segment in market.segments.iter().skip(1) {
        let next = match (segment.next_phase, segment.next_change_at) {
            (Some(next), Some(at)) => format!(", {} at {} IST", next.as_str(), hh_mm(at.time())),
            _ => String::new(),
        };
        market_rows.push((
            "Segment",
            format!("{}: {}{next}", segment.label, segment.phase.as_str()),
        ));
    }
    sections.push(DetailSection {
        heading: "Market",
        rows: market_rows,
    });

    if let Some(auth) = &machines.auth {
        let mut rows = vec![("State", auth.state_label().to_string())];
        if let Some(user) = &auth.user_id {
            rows.push(("User", user.clone()));
        }
        if let Some(hours) = auth.token_age_hours {
            let hours = hours + (now - machines.reported_at).num_seconds().max(0) as f64 / 3600.0;
            rows.push(("Token age", format!("{hours:.1} h")));
        }
        if let Some(at) = auth.expires_at {
            let local = ist_wall_clock(at);
            rows.push((
                "Trusted until",
                format!("{} {} IST", day_label(local.date()), hh_mm(local.time())),
            ));
        }
        if let Some(at) = auth.last_verified_at {
            let seconds = (now - at).num_milliseconds() as f64 / 1000.0;
            rows.push(("Last checked with Kite", ago(seconds)));
        }
        rows.push(("Failures in a row", auth.consecutive_failures.to_string()));
        if let Some(problem) = &auth.token_not_saved {
            rows.push(("Token file", format!("not saved: {problem}")));
        }
        if !auth.reason.is_empty() {
            rows.push(("Why", auth.reason.clone()));
        }
        sections.push(DetailSection {
            heading: "Kite login",
            rows,
        });
    }

    if let Some(feed) = &machines.feed {
        let mut rows = vec![("State", feed.state_label().to_string())];
        rows.push((
            "Last data",
            feed.last_tick_seconds_ago
                .map_or_else(|| "none yet".to_string(), |s| ago(aged(s, machines, now))),
        ));
        rows.push((
            "Quality (last 15 trading min)",
            format!("{:.0} %", feed.connection_quality),
        ));
        rows.push(("Reconnections", feed.reconnects.to_string()));
        if feed.reconnect_attempt > 0 {
            rows.push((
                "Failed attempts in a row",
                feed.reconnect_attempt.to_string(),
            ));
        }
        if let Some(at) = feed.next_retry_at {
            let seconds = (at - now).num_seconds().max(0) as u64;
            rows.push(("Next try", format!("in {}", format_countdown(seconds))));
        }
        if !feed.reason.is_empty() {
            rows.push(("Why", feed.reason.clone()));
        }
        sections.push(DetailSection {
            heading: "Ticker feed",
            rows,
        });
    }
    sections
}

/// Words for the states, as the details show them.
trait StateLabel {
    fn state_label(&self) -> &'static str;
}

impl StateLabel for AuthHealth {
    fn state_label(&self) -> &'static str {
        match self.state {
            AuthState::Valid => "Valid",
            AuthState::Expired => "Expired — log in again",
            AuthState::Required => "Login required",
            AuthState::Refreshing => "Checking with Kite…",
        }
    }
}

impl StateLabel for FeedHealth {
    fn state_label(&self) -> &'static str {
        match self.state {
            FeedState::Connected => "Connected",
            FeedState::Connecting => "Connecting…",
            FeedState::Stale => "Silent — replacing the connection",
            FeedState::Disconnected => "Disconnected",
            FeedState::Error => "Failing — still retrying",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use marketwarden_core::Calendar;

    /// Monday 2026-11-30 at `h:m` IST.
    fn ist(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap() - TimeDelta::minutes(330)
    }

    fn machines(auth: AuthState, feed: FeedState, at: DateTime<Utc>) -> MachineStates {
        MachineStates {
            auth: Some(AuthHealth::in_state(auth)),
            feed: Some(FeedHealth::in_state(feed)),
            reported_at: at,
        }
    }

    fn model(now: DateTime<Utc>, machines: &MachineStates, contact: Contact) -> BannerModel {
        let market = MarketHealth::at(&Calendar::builtin(), now);
        banner_model(&market, machines, contact, now)
    }

    #[test]
    fn another_segment_trading_after_the_cash_close_is_said_and_its_feed_can_alarm() {
        use marketwarden_core::Segment;
        // 15:36 on Monday 2026-11-30: cash has closed, F&O trades to 15:40.
        let now = ist(15, 36);
        let market = MarketHealth::for_segments(
            &Calendar::builtin(),
            Segment::NseCm,
            &[Segment::NseCm, Segment::NseFo],
            now,
        );
        let healthy = machines(AuthState::Valid, FeedState::Connected, now);
        let banner = banner_model(&market, &healthy, Contact::Connected, now);
        assert_eq!(banner.title, "Market Closed");
        assert_eq!(
            banner.segments_line.as_deref(),
            Some("NSE F&O live until 15:40 IST")
        );
        let details = &banner.details[0].rows;
        assert!(
            details.contains(&("Segment", "NSE F&O: LIVE, CLOSED at 15:40 IST".to_string())),
            "{details:?}"
        );
        // The feed is down while F&O trades: an alarm, not a quiet DISCONNECTED.
        let down = machines(AuthState::Valid, FeedState::Disconnected, now);
        let banner = banner_model(&market, &down, Contact::Connected, now);
        assert_eq!(banner.priority, PriorityStatus::FeedDisconnected);
        // Cash alone: nothing else trades, no line, no alarm.
        let cash = MarketHealth::for_segments(&Calendar::builtin(), Segment::NseCm, &[], now);
        let banner = banner_model(&cash, &down, Contact::Connected, now);
        assert_eq!(banner.segments_line, None);
        assert_eq!(banner.priority, PriorityStatus::MarketSession);
    }

    #[test]
    fn login_required_comes_first_in_red_with_a_login_button() {
        let now = ist(10, 0);
        let banner = model(
            now,
            &machines(AuthState::Expired, FeedState::Error, now),
            Contact::Connected,
        );
        assert_eq!(banner.priority, PriorityStatus::AuthRequired);
        assert_eq!(
            (banner.tone.as_str(), banner.role),
            ("auth-required", "alert")
        );
        assert_eq!(banner.title, "Login required");
        assert!(banner.show_login && !banner.reconnecting);
        assert!(
            banner
                .market_line
                .as_deref()
                .unwrap()
                .starts_with("Market Live — ")
        );
        assert_eq!(
            banner.description,
            "Kite session expired — log in to resume live data"
        );
    }

    #[test]
    fn a_feed_down_in_trading_hours_is_reconnecting_with_attempt_and_next_try() {
        let now = ist(10, 0);
        let mut states = machines(AuthState::Valid, FeedState::Disconnected, now);
        let feed = states.feed.as_mut().unwrap();
        feed.reconnect_attempt = 3;
        feed.next_retry_at = Some(now + TimeDelta::seconds(12));
        let banner = model(now, &states, Contact::Connected);
        assert_eq!((banner.tone.as_str(), banner.role), ("feed-down", "alert"));
        assert_eq!(banner.title, "Reconnecting…");
        assert!(banner.reconnecting);
        assert!(
            banner
                .description
                .ends_with("· attempt 3 · next try in 00:12"),
            "{}",
            banner.description
        );
    }

    #[test]
    fn outside_trading_hours_a_closed_feed_is_no_alarm() {
        let night = ist(20, 0);
        let banner = model(
            night,
            &machines(AuthState::Valid, FeedState::Disconnected, night),
            Contact::Connected,
        );
        assert_eq!(banner.priority, PriorityStatus::MarketSession);
        assert_eq!(
            (banner.tone.as_str(), banner.role),
            ("phase-closed", "status")
        );
    }

    #[test]
    fn live_is_the_market_session_with_the_phase_words() {
        let now = ist(10, 0);
        let banner = model(
            now,
            &machines(AuthState::Valid, FeedState::Connected, now),
            Contact::Connected,
        );
        assert_eq!(banner.tone, "phase-live");
        assert_eq!(banner.title, "Market Live");
        assert!(banner.offline_notice.is_none());
    }

    #[test]
    fn a_working_token_that_could_not_be_saved_is_said_under_the_phase() {
        let now = ist(10, 0);
        let mut states = machines(AuthState::Valid, FeedState::Connected, now);
        let banner = model(now, &states, Contact::Connected);
        assert!(banner.token_notice.is_none());
        if let Some(auth) = states.auth.as_mut() {
            auth.token_not_saved = Some("cannot write the env file (read-only filesystem)".into());
        }
        let banner = model(now, &states, Contact::Connected);
        assert_eq!(banner.title, "Market Live");
        assert_eq!(
            banner.token_notice.as_deref(),
            Some(marketwarden_core::TOKEN_NOT_SAVED)
        );
        let login = banner
            .details
            .iter()
            .find(|section| section.heading == "Kite login")
            .unwrap();
        assert!(
            login.rows.iter().any(
                |(label, text)| *label == "Token file" && text.contains("read-only filesystem")
            ),
            "{login:?}"
        );
    }

    #[test]
    fn offline_the_market_still_shows_and_the_machines_do_not_alarm() {
        let now = ist(10, 0);
        let lost = now - TimeDelta::seconds(30);
        let banner = model(
            now,
            &machines(AuthState::Expired, FeedState::Error, lost),
            Contact::LostSince(lost),
        );
        assert_eq!(banner.priority, PriorityStatus::MarketSession);
        assert_eq!(banner.title, "Market Live");
        assert_eq!(
            banner.offline_notice.as_deref(),
            Some(
                "Server unreachable since 09:59:30 IST — the phase below is computed in this browser from the exchange calendar"
            )
        );
    }

    #[test]
    fn details_read_without_knowing_the_json_and_age_from_the_report() {
        let reported = ist(10, 0);
        let mut states = machines(AuthState::Valid, FeedState::Connected, reported);
        let auth = states.auth.as_mut().unwrap();
        auth.user_id = Some("MW0001".into());
        auth.token_age_hours = Some(1.0);
        auth.last_verified_at = Some(reported - TimeDelta::seconds(20));
        auth.expires_at = Some(ist(6, 0) + TimeDelta::days(1));
        let feed = states.feed.as_mut().unwrap();
        feed.last_tick_seconds_ago = Some(2.0);
        feed.connection_quality = 98.7;
        let now = reported + TimeDelta::seconds(3);
        let banner = model(now, &states, Contact::Connected);
        let find = |heading: &str, label: &str| {
            banner
                .details
                .iter()
                .find(|section| section.heading == heading)
                .and_then(|section| section.rows.iter().find(|(l, _)| *l == label))
                .map(|(_, value)| value.clone())
        };
        assert_eq!(find("Kite login", "User").as_deref(), Some("MW0001"));
        assert_eq!(
            find("Kite login", "Trusted until").as_deref(),
            Some("Tue 1 Dec 06:00 IST")
        );
        assert_eq!(
            find("Kite login", "Last checked with Kite").as_deref(),
            Some("23 s ago")
        );
        assert_eq!(find("Ticker feed", "Last data").as_deref(), Some("5 s ago"));
        assert_eq!(
            find("Ticker feed", "Quality (last 15 trading min)").as_deref(),
            Some("99 %")
        );
        assert_eq!(find("Market", "Phase").as_deref(), Some("LIVE"));
        assert_eq!(
            find("Market", "Calendar covers").as_deref(),
            Some("until 2026-12-31")
        );
    }

    #[test]
    fn ages_read_in_seconds_minutes_and_hours() {
        assert_eq!(ago(3.2), "3 s ago");
        assert_eq!(ago(600.0), "10 min ago");
        assert_eq!(ago(7200.0), "2 h ago");
        assert_eq!(ago(-1.0), "0 s ago");
    }
}
