//! marketwarden's Kite Connect client: HTTPS REST, the `wss://` ticker and the trust store they
//! share. What goes over the wire (packets, envelopes, errors, the 06:00 rule) is the
//! `marketwarden-kite` crate's; this module adds only transport.

pub mod pipe;
pub mod rest;
pub mod ticker;
pub mod tls;
