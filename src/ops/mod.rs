//! The use-case layer: one function per user action, a typed request in and a typed result out,
//! called by the CLI and the terminal UI alike so that no workflow is written twice. Functions
//! here load what they need, report progress through a callback and speak of the request, not of
//! command-line flags. Filled action by action (issue 20): accompany first.

pub mod accompany;
