//! alter-core: the engine of the Alter Vault SDK.
//!
//! One SDK call becomes correctly signed backend calls and, in retrieve mode,
//! a provider call with the credential injected. Bindings (Python, Node, C)
//! convert types and map [`Error`] kinds to their own classes; every rule
//! lives here once.

pub mod keys;
pub mod signing;
