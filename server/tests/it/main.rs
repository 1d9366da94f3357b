//! Integration tests of the server: the router in-process, and the binary as an operator runs it.

mod auth;
mod binary;
mod conformance;
mod crash;
mod feed;
mod http;
mod hygiene;
mod kite_rest;
mod kite_ticker;
mod support;
