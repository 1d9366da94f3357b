use super::*;
use chrono::TimeZone;

use marketwarden_testkit::monday_at as ist;

fn token(generation: u64, issued: DateTime<Utc>) -> TokenFacts {
    TokenFacts {
        generation,
        issued: IssueTime::Recorded(issued),
    }
}

fn verified(generation: u64) -> AuthEvent {
    AuthEvent::Verified {
        generation,
        user_id: "MW0001".into(),
    }
}

fn rejected(generation: u64) -> AuthEvent {
    AuthEvent::Rejected {
        generation,
        reason: "403 TokenException".into(),
    }
}

fn unreachable(generation: u64) -> AuthEvent {
    AuthEvent::Unreachable {
        generation,
        reason: "connection refused".into(),
    }
}

/// A machine holding a token issued at 08:50 IST that Kite accepted.
fn valid_at_0850() -> AuthMachine {
    let mut machine = AuthMachine::new();
    machine.handle(AuthEvent::TokenLoaded(token(1, ist(8, 50))), ist(8, 50));
    machine.handle(verified(1), ist(8, 50));
    assert_eq!(machine.state(), AuthState::Valid);
    machine
}

#[test]
fn transition_table() {
    use AuthState::*;
    let at = ist(10, 0);
    // (name, machine before, event, state after, actions)
    let unconfirmed = {
        let mut machine = AuthMachine::new();
        machine.handle(AuthEvent::TokenLoaded(token(1, ist(8, 50))), at);
        machine
    };
    let expired = {
        let mut machine = valid_at_0850();
        machine.handle(rejected(1), at);
        machine
    };
    let cases: Vec<(&str, AuthMachine, AuthEvent, AuthState, Vec<AuthAction>)> = vec![
        (
            "a fresh machine has no token",
            AuthMachine::new(),
            AuthEvent::ClockTick,
            Required,
            vec![],
        ),
        (
            "a loaded token is verified",
            AuthMachine::new(),
            AuthEvent::TokenLoaded(token(1, ist(8, 50))),
            Refreshing,
            vec![AuthAction::Verify { generation: 1 }],
        ),
        (
            "Kite accepts it",
            unconfirmed.clone(),
            verified(1),
            Valid,
            vec![],
        ),
        (
            "Kite refuses it",
            unconfirmed.clone(),
            rejected(1),
            Expired,
            vec![],
        ),
        (
            "a network failure on an unconfirmed token retries and keeps it",
            unconfirmed.clone(),
            unreachable(1),
            Refreshing,
            vec![AuthAction::RetryVerify {
                generation: 1,
                after: Duration::from_secs(5),
            }],
        ),
        (
            "a network failure never logs a valid token out",
            valid_at_0850(),
            unreachable(1),
            Valid,
            vec![],
        ),
        (
            "a 403 mid-day expires a valid token",
            valid_at_0850(),
            rejected(1),
            Expired,
            vec![],
        ),
        (
            "a re-check of a valid token keeps it VALID meanwhile",
            valid_at_0850(),
            AuthEvent::VerifyRequested,
            Valid,
            vec![AuthAction::Verify { generation: 1 }],
        ),
        (
            "an expired token may be checked again",
            expired.clone(),
            AuthEvent::VerifyRequested,
            Refreshing,
            vec![AuthAction::Verify { generation: 1 }],
        ),
        (
            "a verify without a token does nothing",
            AuthMachine::new(),
            AuthEvent::VerifyRequested,
            Required,
            vec![],
        ),
        (
            "only one verification at a time",
            unconfirmed.clone(),
            AuthEvent::VerifyRequested,
            Refreshing,
            vec![],
        ),
        (
            "an answer about an older token is ignored",
            unconfirmed.clone(),
            rejected(0),
            Refreshing,
            vec![],
        ),
        (
            "a ticker 403 for an older token is ignored",
            valid_at_0850(),
            rejected(7),
            Valid,
            vec![],
        ),
        (
            "a removed token requires a login",
            valid_at_0850(),
            AuthEvent::TokenMissing,
            Required,
            vec![],
        ),
        (
            "logout requires a login",
            valid_at_0850(),
            AuthEvent::LoggedOut,
            Required,
            vec![],
        ),
        (
            "a login makes an expired session valid",
            expired.clone(),
            AuthEvent::LoggedIn {
                token: token(2, at),
                user_id: "MW0001".into(),
            },
            Valid,
            vec![],
        ),
        (
            "an exchange in progress is REFRESHING",
            AuthMachine::new(),
            AuthEvent::ExchangeStarted,
            Refreshing,
            vec![],
        ),
        (
            "a new token replaces an expired one",
            expired,
            AuthEvent::TokenLoaded(token(2, at)),
            Refreshing,
            vec![AuthAction::Verify { generation: 2 }],
        ),
    ];
    for (name, mut machine, event, state, actions) in cases {
        let step = machine.handle(event, at);
        assert_eq!((machine.state(), step.actions), (state, actions), "{name}");
    }
}

#[test]
fn requires_login_only_in_expired_and_required() {
    for (state, expected) in [
        (AuthState::Valid, false),
        (AuthState::Refreshing, false),
        (AuthState::Expired, true),
        (AuthState::Required, true),
    ] {
        assert_eq!(
            AuthHealth::in_state(state).requires_login,
            expected,
            "{state:?}"
        );
    }
}

#[test]
fn a_failed_exchange_returns_to_the_state_before_it() {
    let mut machine = valid_at_0850();
    machine.handle(AuthEvent::ExchangeStarted, ist(9, 0));
    assert_eq!(machine.state(), AuthState::Refreshing);
    let step = machine.handle(
        AuthEvent::ExchangeFailed {
            reason: "used request token".into(),
        },
        ist(9, 0),
    );
    assert_eq!(machine.state(), AuthState::Valid);
    assert_eq!(
        step.transition.unwrap().reason,
        "the login failed: used request token"
    );
    assert_eq!(machine.health(ist(9, 0)).consecutive_failures, 1);
}

#[test]
fn failures_are_counted_and_a_success_resets_them() {
    let mut machine = valid_at_0850();
    for _ in 0..3 {
        machine.handle(AuthEvent::VerifyRequested, ist(10, 0));
        machine.handle(unreachable(1), ist(10, 0));
    }
    assert_eq!(machine.health(ist(10, 0)).consecutive_failures, 3);
    assert_eq!(machine.state(), AuthState::Valid);
    machine.handle(AuthEvent::VerifyRequested, ist(10, 1));
    machine.handle(verified(1), ist(10, 1));
    let health = machine.health(ist(10, 1));
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.last_verified_at, Some(ist(10, 1)));
}

#[test]
fn retries_of_an_unconfirmed_token_back_off_to_a_minute() {
    let delays: Vec<u64> = (1..=7).map(|n| VERIFY_RETRY.after(n).as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 60, 60, 60]);
}

#[test]
fn a_token_from_before_ten_expires_by_age_after_ten_by_the_cutoff() {
    // 08:50 + 20 h = 04:50 next day, before the 06:00 cut-off.
    let early = token(1, ist(8, 50));
    assert_eq!(
        early.expiry(),
        Some((ist(8, 50) + MAX_TOKEN_AGE, ExpiryRule::MaxAge))
    );
    // 14:00 + 20 h = 10:00 next day, after the 06:00 cut-off.
    let late = token(1, ist(14, 0));
    let cutoff = ist(6, 0) + TimeDelta::days(1);
    assert_eq!(late.expiry(), Some((cutoff, ExpiryRule::DailyCutoff)));
    // A login at 10:00 meets both rules at 06:00 the next day: the cut-off is named.
    assert_eq!(
        token(1, ist(10, 0)).expiry(),
        Some((cutoff, ExpiryRule::DailyCutoff))
    );
    let unknown = TokenFacts {
        generation: 1,
        issued: IssueTime::Unknown,
    };
    assert_eq!(unknown.expiry(), None);
}

#[test]
fn a_valid_token_expires_at_the_0600_cutoff_not_a_nanosecond_before() {
    let mut machine = AuthMachine::new();
    machine.handle(
        AuthEvent::LoggedIn {
            token: token(1, ist(14, 0)),
            user_id: "MW0001".into(),
        },
        ist(14, 0),
    );
    let cutoff = ist(6, 0) + TimeDelta::days(1);
    assert_eq!(machine.next_expiry(), Some(cutoff));
    machine.handle(AuthEvent::ClockTick, cutoff - TimeDelta::nanoseconds(1));
    assert_eq!(machine.state(), AuthState::Valid);
    let step = machine.handle(AuthEvent::ClockTick, cutoff);
    assert_eq!(machine.state(), AuthState::Expired);
    assert_eq!(
        step.transition.unwrap().reason,
        "the token issued 2026-11-30 14:00 IST passed Kite's 06:00 IST cut-off"
    );
    assert_eq!(machine.next_expiry(), None, "nothing more to wait for");
}

#[test]
fn the_20_hour_rule_uses_the_file_time_when_the_issue_time_is_unknown() {
    let mut machine = AuthMachine::new();
    let from_file = TokenFacts {
        generation: 1,
        issued: IssueTime::FileModified(ist(8, 0)),
    };
    machine.handle(AuthEvent::TokenLoaded(from_file), ist(8, 0));
    machine.handle(verified(1), ist(8, 0));
    let step = machine.handle(AuthEvent::ClockTick, ist(8, 0) + MAX_TOKEN_AGE);
    assert_eq!(machine.state(), AuthState::Expired);
    let reason = step.transition.unwrap().reason;
    assert!(
        reason.contains("older than 20 h") && reason.contains("modification time"),
        "{reason}"
    );
}

#[test]
fn a_token_loaded_past_its_expiry_is_expired_without_asking_kite() {
    let mut machine = AuthMachine::new();
    let step = machine.handle(
        AuthEvent::TokenLoaded(token(1, ist(8, 50))),
        ist(8, 50) + TimeDelta::days(1),
    );
    assert_eq!(machine.state(), AuthState::Expired);
    assert!(step.actions.is_empty());
    assert!(!machine.token_is_usable());
}

#[test]
fn no_answer_revives_a_token_past_its_expiry() {
    let mut machine = AuthMachine::new();
    machine.handle(AuthEvent::TokenLoaded(token(1, ist(14, 0))), ist(14, 0));
    let after_cutoff = ist(6, 0) + TimeDelta::days(1);
    machine.handle(verified(1), after_cutoff);
    assert_eq!(machine.state(), AuthState::Expired);
}

#[test]
fn health_reports_age_in_hours_expiry_user_and_reason() {
    let machine = valid_at_0850();
    let health = machine.health(ist(11, 20));
    assert_eq!(health.state, AuthState::Valid);
    assert!(health.is_valid && !health.requires_login);
    assert_eq!(health.token_age_hours, Some(2.5));
    assert_eq!(health.expires_at, Some(ist(8, 50) + MAX_TOKEN_AGE));
    assert_eq!(health.user_id.as_deref(), Some("MW0001"));
    assert_eq!(health.reason, "Kite accepted the token of MW0001");
}

#[test]
fn transitions_carry_from_to_and_reason_and_repeats_do_not() {
    let mut machine = valid_at_0850();
    let step = machine.handle(rejected(1), ist(10, 0));
    assert_eq!(
        step.transition,
        Some(Transition {
            from: AuthState::Valid,
            to: AuthState::Expired,
            reason: "Kite refused the token: 403 TokenException".into(),
        })
    );
    machine.handle(AuthEvent::VerifyRequested, ist(10, 0));
    let step = machine.handle(rejected(1), ist(10, 0));
    assert_eq!(machine.state(), AuthState::Expired);
    assert_eq!(machine.health(ist(10, 0)).consecutive_failures, 2);
    assert!(
        step.transition.is_some(),
        "REFRESHING back to EXPIRED is a change"
    );
}

/// 06:00 IST on 2026-12-01, the cut-off of a token issued at 08:50 the day before.
fn next_cutoff() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 30, 0).unwrap()
}

#[test]
fn a_clock_that_jumps_past_the_cutoff_is_checked_with_kite_not_believed() {
    let mut machine = valid_at_0850();
    // NTP steps the clock a day forward at 10:00; the shell sees it leave the monotonic clock.
    machine.trust_clock(false);
    let jumped = next_cutoff() + TimeDelta::hours(4);
    machine.handle(AuthEvent::ClockTick, jumped);
    assert_eq!(machine.state(), AuthState::Expired);
    assert!(machine.wants_kite_to_confirm_expiry());
    let step = machine.handle(AuthEvent::VerifyRequested, jumped);
    assert_eq!(step.actions, [AuthAction::Verify { generation: 1 }]);
    assert_eq!(machine.state(), AuthState::Expired, "until Kite answers");
    assert!(!machine.wants_kite_to_confirm_expiry(), "asked once");
    machine.handle(verified(1), jumped);
    assert_eq!(machine.state(), AuthState::Valid);
    let reason = machine.health(jumped).reason;
    assert!(reason.contains("clock may have jumped"), "{reason}");
    // From now on Kite decides: the clock rule no longer ends it.
    machine.handle(AuthEvent::ClockTick, jumped + TimeDelta::hours(1));
    assert_eq!(machine.state(), AuthState::Valid);
    assert!(machine.token_is_usable());
    machine.handle(rejected(1), jumped + TimeDelta::hours(2));
    assert_eq!(machine.state(), AuthState::Expired);
}

#[test]
fn an_expiry_kite_confirms_is_final() {
    let mut machine = valid_at_0850();
    machine.trust_clock(false);
    machine.handle(AuthEvent::ClockTick, next_cutoff());
    assert!(machine.wants_kite_to_confirm_expiry());
    machine.handle(AuthEvent::VerifyRequested, next_cutoff());
    machine.handle(rejected(1), next_cutoff());
    assert_eq!(machine.state(), AuthState::Expired);
    assert!(!machine.wants_kite_to_confirm_expiry());
    assert!(!machine.is_expired_by_clock());
    // A later confirmation of that token (a stale answer) changes nothing.
    machine.handle(AuthEvent::VerifyRequested, next_cutoff());
    machine.handle(verified(1), next_cutoff());
    assert_eq!(machine.state(), AuthState::Expired);
}

#[test]
fn kite_out_of_reach_leaves_a_clock_expiry_in_place_and_it_is_asked_again() {
    let mut machine = valid_at_0850();
    machine.trust_clock(false);
    machine.handle(AuthEvent::ClockTick, next_cutoff());
    machine.handle(AuthEvent::VerifyRequested, next_cutoff());
    machine.handle(unreachable(1), next_cutoff());
    assert_eq!(machine.state(), AuthState::Expired);
    assert!(
        machine.is_expired_by_clock(),
        "the shell asks again at the re-check"
    );
    assert!(machine.health(next_cutoff()).requires_login);
}

#[test]
fn a_clock_that_kept_time_is_believed_and_its_expiry_is_final() {
    let mut machine = valid_at_0850();
    machine.handle(AuthEvent::ClockTick, next_cutoff());
    assert_eq!(machine.state(), AuthState::Expired);
    assert!(!machine.wants_kite_to_confirm_expiry());
    assert!(!machine.is_expired_by_clock());
    let step = machine.handle(AuthEvent::VerifyRequested, next_cutoff());
    assert!(step.actions.is_empty());
    // A token loaded from the file under an untrusted clock is put to Kite, not thrown away.
    let mut machine = AuthMachine::new();
    machine.trust_clock(false);
    machine.handle(AuthEvent::TokenLoaded(token(1, ist(8, 50))), next_cutoff());
    assert_eq!(machine.state(), AuthState::Expired);
    assert!(machine.wants_kite_to_confirm_expiry());
}

#[test]
fn the_file_losing_its_token_wins_over_the_environment_once_running() {
    use FileWithoutToken::*;
    for source in [
        TokenSource::None,
        TokenSource::EnvFile,
        TokenSource::Environment,
        TokenSource::Login,
    ] {
        assert_eq!(
            when_the_file_has_no_token(true, source, true),
            UseEnvironmentToken
        );
        assert_eq!(
            when_the_file_has_no_token(true, source, false),
            WaitForLogin
        );
    }
    for environment in [true, false] {
        let later = |source| when_the_file_has_no_token(false, source, environment);
        assert_eq!(later(TokenSource::EnvFile), ForgetToken);
        assert_eq!(later(TokenSource::Login), ForgetToken);
        assert_eq!(later(TokenSource::Environment), KeepToken);
        assert_eq!(later(TokenSource::None), KeepToken);
    }
}

#[test]
fn a_recorded_issue_time_counts_only_for_its_own_token() {
    let recorded = Some(ist(9, 0));
    let modified = Some(ist(11, 0));
    assert_eq!(
        issue_time_of_file_token(true, false, recorded, modified),
        IssueTime::Recorded(ist(9, 0))
    );
    assert_eq!(
        issue_time_of_file_token(false, true, recorded, modified),
        IssueTime::Recorded(ist(9, 0))
    );
    // The token changed, its issue-time line did not: the line is the old token's.
    assert_eq!(
        issue_time_of_file_token(false, false, recorded, modified),
        IssueTime::FileModified(ist(11, 0))
    );
    assert_eq!(
        issue_time_of_file_token(false, false, recorded, None),
        IssueTime::Unknown
    );
}

#[test]
fn a_session_of_another_user_is_refused_and_a_future_login_time_clamped() {
    let now = ist(10, 0);
    assert_eq!(
        judge_session(Some("MW0001"), "mw0001", Some(ist(9, 30)), now),
        Ok(IssueTime::Recorded(ist(9, 30)))
    );
    assert_eq!(
        judge_session(None, "ANY", Some(ist(10, 5)), now),
        Ok(IssueTime::Recorded(now)),
        "a login time ahead of our clock counts from now"
    );
    assert_eq!(
        judge_session(None, "ANY", None, now),
        Ok(IssueTime::Recorded(now))
    );
    assert_eq!(
        judge_session(Some("MW0001"), "XY9999", Some(ist(9, 30)), now),
        Err(WrongUser {
            expected: "MW0001".into(),
            actual: "XY9999".into()
        })
    );
}

#[test]
fn the_recheck_asks_kite_about_valid_refused_and_clock_expired_tokens() {
    let mut machine = AuthMachine::new();
    assert!(!machine.wants_recheck(false), "no token, nothing to ask");
    assert!(machine.wants_recheck(true));
    machine.handle(
        AuthEvent::TokenLoaded(TokenFacts {
            generation: 1,
            issued: IssueTime::Recorded(ist(9, 0)),
        }),
        ist(9, 1),
    );
    machine.handle(
        AuthEvent::Verified {
            generation: 1,
            user_id: "MW0001".into(),
        },
        ist(9, 1),
    );
    assert!(machine.wants_recheck(false));
}
