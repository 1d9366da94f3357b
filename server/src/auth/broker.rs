//! What the auth machine asks of Kite, as a trait so that paused-clock tests can answer
//! without sockets.

use futures_util::future::BoxFuture;

use crate::kite::rest::KiteRest;
use marketwarden_kite::Secret;
use marketwarden_kite::rest::{KiteError, Profile, Session};

/// The Kite calls the auth machine makes.
pub trait AuthBroker: Send + Sync {
    /// The login page URL with `redirect_params`.
    fn login_url(&self, redirect_params: &[(&str, &str)]) -> String;
    /// `POST /session/token`.
    fn exchange<'a>(&'a self, request_token: &'a str) -> BoxFuture<'a, Result<Session, KiteError>>;
    /// `GET /user/profile`.
    fn profile<'a>(&'a self, access_token: &'a Secret)
    -> BoxFuture<'a, Result<Profile, KiteError>>;
    /// `DELETE /session/token`.
    fn logout<'a>(&'a self, access_token: &'a Secret) -> BoxFuture<'a, Result<(), KiteError>>;
}

/// Kite itself (or the simulator), over HTTP.
pub struct KiteBroker {
    rest: KiteRest,
    api_secret: Secret,
}

impl KiteBroker {
    pub fn new(rest: KiteRest, api_secret: Secret) -> Self {
        Self { rest, api_secret }
    }
}

impl AuthBroker for KiteBroker {
    fn login_url(&self, redirect_params: &[(&str, &str)]) -> String {
        self.rest.login_url(redirect_params)
    }

    fn exchange<'a>(&'a self, request_token: &'a str) -> BoxFuture<'a, Result<Session, KiteError>> {
        Box::pin(
            self.rest
                .exchange_request_token(request_token, &self.api_secret),
        )
    }

    fn profile<'a>(
        &'a self,
        access_token: &'a Secret,
    ) -> BoxFuture<'a, Result<Profile, KiteError>> {
        Box::pin(self.rest.profile(access_token))
    }

    fn logout<'a>(&'a self, access_token: &'a Secret) -> BoxFuture<'a, Result<(), KiteError>> {
        Box::pin(self.rest.logout(access_token))
    }
}
