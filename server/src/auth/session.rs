//! The trader's actions on the token: verify it now, log in through Kite, log out.

use super::*;

impl AuthService {
    /// `POST /api/system/health/auth/verify`: asks Kite now, unless it was asked less than
    /// [`VERIFY_MIN_INTERVAL`] ago; concurrent callers share one call. Answers with the state
    /// after the check.
    pub async fn verify(self: &Arc<Self>) -> AuthHealth {
        let mut gate = self.verify_gate.lock().await;
        let recently = gate.is_some_and(|last| last.elapsed() < VERIFY_MIN_INTERVAL);
        if !recently {
            let actions = self.apply(AuthEvent::VerifyRequested);
            if let Some(generation) = verification_in(&actions) {
                self.ask_kite(generation, &mut gate).await;
            }
        }
        drop(gate);
        self.health()
    }

    /// Starts a login: a one-time state and the Kite login URL that carries it.
    pub fn begin_login(&self) -> LoginStart {
        let state = self.logins().issue(tokio::time::Instant::now());
        let url = self.broker.login_url(&[("state", state.as_str())]);
        LoginStart { state, url }
    }

    /// Finishes a login from Kite's redirect: checks the state against the browser's cookie and
    /// the pending logins, exchanges the request token, checks the user, saves the token.
    ///
    /// # Errors
    ///
    /// See [`LoginError`]; on any error nothing changes but the failure count.
    pub async fn complete_login(
        self: &Arc<Self>,
        query: &[(String, String)],
        browser_state: Option<&str>,
    ) -> Result<AuthHealth, LoginError> {
        let callback = login::Callback::from_query(query)?;
        self.logins()
            .redeem(&callback.state, browser_state, tokio::time::Instant::now())?;
        self.apply(AuthEvent::ExchangeStarted);
        let session = match self.broker.exchange(&callback.request_token).await {
            Ok(session) => session,
            Err(error) => {
                self.apply(AuthEvent::ExchangeFailed {
                    reason: error.to_string(),
                });
                return Err(if error.is_token_failure() {
                    LoginError::Refused(error.to_string())
                } else {
                    LoginError::Unreachable(error.to_string())
                });
            }
        };
        let now = self.clock.now();
        let issued = match machine::judge_session(
            self.config.expected_user_id.as_deref(),
            &session.user_id,
            parse_login_time(&session.login_time),
            now,
        ) {
            Ok(issued) => issued,
            Err(WrongUser { expected, actual }) => {
                // Not ours to keep: give the session back to Kite.
                if let Err(error) = self.broker.logout(&session.access_token).await {
                    tracing::warn!(%error, "cannot invalidate the refused session at Kite");
                }
                let error = LoginError::WrongUser { expected, actual };
                self.apply(AuthEvent::ExchangeFailed {
                    reason: error.to_string(),
                });
                return Err(error);
            }
        };
        let issued_at = issued.instant().unwrap_or(now);
        {
            let mut inner = self.lock();
            let generation = inner.take_generation();
            inner.token = Some(session.access_token.clone());
            inner.source = TokenSource::Login;
            inner.retry = None;
            let step = inner.machine.handle(
                AuthEvent::LoggedIn {
                    token: TokenFacts { generation, issued },
                    user_id: session.user_id.clone(),
                },
                now,
            );
            log_transition(step.transition.as_ref());
            self.publish(&inner);
        }
        self.save_token(&session.access_token, issued_at).await;
        Ok(self.health())
    }

    /// `POST /auth/logout`: invalidates the token at Kite (when it can be reached) and locally,
    /// and removes it from `.env`. Answers with the new state and whether Kite confirmed.
    pub async fn logout(self: &Arc<Self>) -> (AuthHealth, bool) {
        let token = self.lock().token.clone();
        let mut invalidated_at_kite = false;
        if let Some(token) = &token {
            match self.broker.logout(token).await {
                Ok(()) => invalidated_at_kite = true,
                // A dead token cannot be used by anyone: nothing more to do at Kite.
                Err(error) if error.is_token_failure() => invalidated_at_kite = true,
                Err(error) => tracing::warn!(
                    %error,
                    "cannot reach Kite to invalidate the token; it is forgotten here anyway"
                ),
            }
        }
        {
            let mut inner = self.lock();
            inner.token = None;
            inner.source = TokenSource::None;
            inner.retry = None;
            let step = inner.machine.handle(AuthEvent::LoggedOut, self.clock.now());
            log_transition(step.transition.as_ref());
            self.publish(&inner);
        }
        if let Some(hook) = self.logout_hook.get() {
            hook();
        }
        self.remove_saved_token().await;
        (self.health(), invalidated_at_kite)
    }
}

/// Kite's `login_time` (`yyyy-mm-dd hh:mm:ss`, IST).
pub(super) fn parse_login_time(text: &str) -> Option<DateTime<Utc>> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok()?;
    ist_to_utc(local.date(), local.time())
}
