//! The Kite Connect protocol: what marketwarden and its simulator say to each other, exactly as
//! Kite says it.

pub mod packet;
