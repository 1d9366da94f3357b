//! The token in the env file: reading it at start and after every edit (which token wins, and
//! since when it counts), saving a new one crash-safely, removing it at logout.

use super::*;

impl AuthService {
    /// Records whether the token in use is saved, and tells the event streams when that changes
    /// (the banner shows an unsaved token).
    pub(super) fn set_save_failure(&self, failure: Option<String>) {
        let changed = {
            let mut inner = self.lock();
            let changed = inner.save_failure != failure;
            inner.save_failure = failure;
            changed
        };
        if changed {
            self.changes.send_modify(|count| *count += 1);
        }
    }

    /// Reads `.env` and acts on what changed. A file with problems is reported and, unless at
    /// start, changes nothing.
    pub async fn reload_env_file(self: &Arc<Self>, cause: ReloadCause) {
        let path = self.config.env_file.clone();
        let read = tokio::task::spawn_blocking(move || envfile::read(&path)).await;
        let snapshot = match read {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(error)) => {
                tracing::error!(
                    path = %self.config.env_file.display(),
                    %error,
                    "cannot read the .env file; the current token stays"
                );
                return;
            }
            Err(error) => {
                tracing::error!(%error, "the .env reader failed; the current token stays");
                return;
            }
        };
        let Some(snapshot) = snapshot else {
            if cause == ReloadCause::FileChanged && self.keep_token_of_a_deleted_file() {
                return;
            }
            self.no_token_in_file(cause, "there is no .env file");
            return;
        };
        if !snapshot.file.problems().is_empty() {
            let problems: Vec<String> = snapshot
                .file
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect();
            let problems = problems.join("; ");
            if cause == ReloadCause::FileChanged {
                tracing::error!(
                    path = %self.config.env_file.display(),
                    %problems,
                    "the edited .env file has lines that do not parse; it is ignored until \
                     fixed and the current token stays"
                );
                return;
            }
            tracing::warn!(
                path = %self.config.env_file.display(),
                %problems,
                "the .env file has lines that do not parse; they are ignored"
            );
        }
        let Some(token) = snapshot.file.get_non_blank(ACCESS_TOKEN_KEY) else {
            self.no_token_in_file(cause, "the .env file holds no ZERODHA_ACCESS_TOKEN");
            return;
        };
        let token = Secret::new(token.trim());
        let issued_text = snapshot
            .file
            .get_non_blank(ISSUED_AT_KEY)
            .map(str::to_string);
        let now = self.clock.now();
        let mut inner = self.lock();
        if inner.token.as_ref() == Some(&token) {
            inner.seen_issued_at = issued_text;
            drop(inner);
            // The file holds our token again (restored after a deletion): it is saved.
            self.set_save_failure(None);
            return;
        }
        inner.save_failure = None;
        let issued = machine::issue_time_of_file_token(
            cause == ReloadCause::Start,
            issued_text != inner.seen_issued_at,
            snapshot.file.issued_at(),
            snapshot.modified_at,
        );
        tracing::info!(
            path = %self.config.env_file.display(),
            "found a new access token in the .env file"
        );
        let generation = inner.take_generation();
        inner.token = Some(token);
        inner.source = TokenSource::EnvFile;
        inner.retry = None;
        inner.seen_issued_at = issued_text;
        let step = inner.machine.handle(
            AuthEvent::TokenLoaded(TokenFacts { generation, issued }),
            now,
        );
        log_transition(step.transition.as_ref());
        self.publish(&inner);
        drop(inner);
        self.dispatch(step.actions);
    }

    /// The env file disappeared (deleted or moved) while a usable token is in use. A moved file
    /// is no logout: the session goes on with the token in memory, and the auth object and the
    /// banner say it will not survive a restart (as for a failed save) until the file is back
    /// or the next login writes a new one. Removing the token's line from the file is the way to
    /// log out by hand. Returns false when there is no usable token to keep.
    pub(super) fn keep_token_of_a_deleted_file(&self) -> bool {
        if !self.lock().machine.token_is_usable() {
            return false;
        }
        tracing::warn!(
            path = %self.config.env_file.display(),
            "the .env file was deleted or moved: the token stays in use, in memory only; restore \
             the file or log in again to keep it across a restart"
        );
        self.set_save_failure(Some(
            "the env file was deleted or moved: the token is kept in memory only".into(),
        ));
        true
    }

    /// `.env` has no token: at start, fall back to the process environment; later, the token
    /// was removed on purpose.
    pub(super) fn no_token_in_file(self: &Arc<Self>, cause: ReloadCause, why: &str) {
        let mut inner = self.lock();
        let now = self.clock.now();
        let decision = machine::when_the_file_has_no_token(
            cause == ReloadCause::Start,
            inner.source,
            self.config.environment_token.is_some(),
        );
        let event = match (decision, &self.config.environment_token) {
            (FileWithoutToken::UseEnvironmentToken, Some(token)) => {
                tracing::info!("{why}: using ZERODHA_ACCESS_TOKEN from the environment");
                let generation = inner.take_generation();
                inner.token = Some(token.clone());
                inner.source = TokenSource::Environment;
                AuthEvent::TokenLoaded(TokenFacts {
                    generation,
                    issued: IssueTime::Unknown,
                })
            }
            (FileWithoutToken::ForgetToken, _) => {
                tracing::info!("{why} any more: the token was removed");
                inner.token = None;
                inner.source = TokenSource::None;
                inner.retry = None;
                AuthEvent::TokenMissing
            }
            (FileWithoutToken::WaitForLogin, _) | (FileWithoutToken::UseEnvironmentToken, None) => {
                tracing::info!("{why}: log in to Kite to get a token");
                return;
            }
            (FileWithoutToken::KeepToken, _) => return,
        };
        let step = inner.machine.handle(event, now);
        log_transition(step.transition.as_ref());
        self.publish(&inner);
        drop(inner);
        self.dispatch(step.actions);
    }

    /// Reloads `.env` after each change the watcher reports.
    pub(super) async fn follow_file_changes(
        self: Arc<Self>,
        mut changes: watcher::FileChanges,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.next() => {
                    if !changed {
                        return;
                    }
                }
            }
            self.reload_env_file(ReloadCause::FileChanged).await;
        }
    }

    pub(super) async fn save_token(&self, token: &Secret, issued_at: DateTime<Utc>) {
        let _writing = self.file_lock.lock().await;
        let path = self.config.env_file.clone();
        let token = token.clone();
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let current = envfile::read(&path)?
                .map(|snapshot| snapshot.file)
                .unwrap_or_default();
            refuse_lossy_rewrite(&current)?;
            let text = current.with_token(token.expose(), issued_at);
            envfile::write_atomically(&path, text.as_bytes())?;
            Ok(envfile::EnvFile::parse(&text)
                .get(ISSUED_AT_KEY)
                .unwrap_or_default()
                .to_string())
        })
        .await;
        match written {
            Ok(Ok(issued_text)) => {
                self.lock().seen_issued_at = Some(issued_text);
                self.set_save_failure(None);
                tracing::info!(path = %self.config.env_file.display(), "access token saved");
            }
            Ok(Err(error)) => {
                tracing::error!(
                    path = %self.config.env_file.display(),
                    %error,
                    "cannot save the access token: it works until a restart, then a login is needed"
                );
                // The folder stays out of the answer: the kind of failure is what helps.
                self.set_save_failure(Some(format!(
                    "cannot write the env file ({})",
                    error.kind()
                )));
            }
            Err(error) => {
                tracing::error!(%error, "the .env writer failed");
                self.set_save_failure(Some("the env file writer failed".into()));
            }
        }
    }

    pub(super) async fn remove_saved_token(&self) {
        let _writing = self.file_lock.lock().await;
        let path = self.config.env_file.clone();
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let Some(current) = envfile::read(&path)? else {
                return Ok(());
            };
            if current.file.get(ACCESS_TOKEN_KEY).is_none()
                && current.file.get(ISSUED_AT_KEY).is_none()
            {
                return Ok(());
            }
            refuse_lossy_rewrite(&current.file)?;
            envfile::write_atomically(&path, current.file.without_token().as_bytes())
        })
        .await;
        match removed {
            Ok(Ok(())) => {
                self.lock().seen_issued_at = None;
            }
            Ok(Err(error)) => tracing::error!(
                path = %self.config.env_file.display(),
                %error,
                "cannot remove the access token from the .env file"
            ),
            Err(error) => tracing::error!(%error, "the .env writer failed"),
        }
    }
}

/// A file that is not UTF-8 cannot be rewritten byte for byte: leave it to the operator.
pub(super) fn refuse_lossy_rewrite(file: &envfile::EnvFile) -> std::io::Result<()> {
    if file.can_rewrite() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not UTF-8 text, so it is left as it is",
        ))
    }
}
