//! Logs every change of the market phase (`MARKET PHASE: LIVE`), and of each segment in use in
//! the exchange's phases (`SEGMENT PHASE: nse-fo CLOSED`), from the calendar's next phase change
//! rather than by polling.

use std::sync::Arc;
use std::time::Duration;

use marketwarden_core::{MarketHealth, MarketPhase, Segment};
use tokio_util::sync::CancellationToken;

use crate::calendar::CalendarStore;
use crate::clock::{Clock, MAX_SLEEP, Timers};

/// Logs the market phase of `primary` and the exchange phase of each of `segments` at start
/// and at every change, until `shutdown`.
pub async fn log_phase_changes(
    calendar: Arc<CalendarStore>,
    clock: Arc<dyn Clock>,
    primary: Segment,
    segments: Vec<Segment>,
    shutdown: CancellationToken,
) {
    let mut last: Option<MarketPhase> = None;
    let mut last_segments: Vec<Option<MarketPhase>> = Vec::new();
    loop {
        let now = clock.now();
        let market =
            MarketHealth::for_segments(&calendar.current().calendar, primary, &segments, now);
        last_segments.resize(market.segments.len(), None);
        for (segment, logged) in market.segments.iter().zip(last_segments.iter_mut()) {
            if *logged != Some(segment.phase) {
                tracing::info!(
                    next_phase = segment.next_phase.map(MarketPhase::as_str),
                    next_change_at = segment.next_change_at.map(|at| at.to_rfc3339()),
                    "SEGMENT PHASE: {} {}",
                    segment.segment,
                    segment.phase.as_str()
                );
                *logged = Some(segment.phase);
            }
        }
        if last != Some(market.phase) {
            tracing::info!(
                title = %market.title,
                next_phase = market.next_phase.map(MarketPhase::as_str),
                next_change_at = market.next_change_at.map(|at| at.to_rfc3339()),
                "MARKET PHASE: {}",
                market.phase.as_str()
            );
            last = Some(market.phase);
        }
        // Wake just past the next change of any of them, so the new phase is in force.
        let wait = market
            .next_change_anywhere()
            .map_or(MAX_SLEEP, |at| {
                clock.until(at.with_timezone(&chrono::Utc)) + Duration::from_millis(5)
            })
            .min(MAX_SLEEP);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::StartedClock;
    use chrono::{TimeZone, Utc};
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs the logger from `start` for `segments` (NSE cash primary); the log text so far, at
    /// any later moment, from the returned reader. Stop it with the token.
    fn logging_from(
        start: chrono::DateTime<Utc>,
        segments: Vec<Segment>,
    ) -> (
        impl Fn() -> String,
        tracing::subscriber::DefaultGuard,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(log_phase_changes(
            Arc::new(CalendarStore::builtin()),
            Arc::new(StartedClock::starting_at(start)),
            Segment::NseCm,
            segments,
            shutdown.clone(),
        ));
        let text = move || String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        (text, guard, shutdown, task)
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_change_is_logged_once_when_it_happens() {
        // 09:14:30 IST: the auction freeze ends in 30 s.
        let start = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 30).unwrap();
        let (text, _guard, shutdown, task) = logging_from(start, Vec::new());
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(text().matches("MARKET PHASE:").count(), 1, "{}", text());
        assert!(text().contains("MARKET PHASE: AUCTION_FREEZE"));
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(
            text().matches("MARKET PHASE: LIVE").count(),
            1,
            "{}",
            text()
        );
        assert_eq!(text().matches("MARKET PHASE:").count(), 2);
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn each_segment_in_use_logs_its_own_changes() {
        // Tuesday 2026-12-01 at 15:34 IST, with an F&O instrument subscribed.
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 10, 4, 0).unwrap();
        let (text, _guard, shutdown, task) =
            logging_from(start, vec![Segment::NseCm, Segment::NseFo]);
        tokio::time::sleep(Duration::from_secs(7 * 60)).await;
        let text = text();
        for line in [
            "SEGMENT PHASE: nse-cm CLOSING_AUCTION",
            "SEGMENT PHASE: nse-fo LIVE",
            "SEGMENT PHASE: nse-cm CLOSED",
            "SEGMENT PHASE: nse-fo CLOSED",
        ] {
            assert_eq!(text.matches(line).count(), 1, "{line} in\n{text}");
        }
        assert_eq!(text.matches("MARKET PHASE: CLOSED").count(), 1, "{text}");
        shutdown.cancel();
        task.await.unwrap();
    }
}
