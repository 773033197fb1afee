//! `App` and `Agent`: the two principals. Both dereference to [`Client`] for
//! the runtime calls they share; operations only one of them may perform are
//! methods on that type alone, so misuse fails to compile instead of failing
//! on the server.

use crate::client::{Client, ClientOptions, Principal};
use crate::error::Result;
use std::ops::Deref;

/// The operator client (app keys): everything.
#[derive(Clone, Debug)]
pub struct App {
    client: Client,
}

/// The workload client (agent keys): a strict subset of `App`, plus its own
/// introspection and tracing.
#[derive(Clone, Debug)]
pub struct Agent {
    client: Client,
}

impl App {
    /// Builds an App; purely local. The caller type defaults to `service`.
    pub fn new(opts: ClientOptions) -> Result<App> {
        Ok(App {
            client: Client::new(Principal::App, opts)?,
        })
    }

    /// A sibling bound to scope constraints and/or a request rule.
    pub fn with_constraints(
        &self,
        scopes: Option<&[String]>,
        rule: Option<&serde_json::Value>,
    ) -> Result<App> {
        Ok(App {
            client: self.client.with_constraints(scopes, rule)?,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Agent {
    /// Builds an Agent; purely local. The caller type is always `agent`.
    pub fn new(opts: ClientOptions) -> Result<Agent> {
        Ok(Agent {
            client: Client::new(Principal::Agent, opts)?,
        })
    }

    pub fn with_constraints(
        &self,
        scopes: Option<&[String]>,
        rule: Option<&serde_json::Value>,
    ) -> Result<Agent> {
        Ok(Agent {
            client: self.client.with_constraints(scopes, rule)?,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Deref for App {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Deref for Agent {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}
