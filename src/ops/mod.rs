//! The use-case layer: one function per user action, a typed request in and a typed result out,
//! called by the CLI and the terminal UI alike so that no workflow is written twice. Functions
//! here load what they need (through the model registry, [`models`]), report progress through a
//! callback and speak of the request, not of command-line flags: the CLI adds flag names.
//!
//! | action | function |
//! |---|---|
//! | continue, generate | [`generate::generate`] (model from [`generate::load_model`]) |
//! | accompany | [`accompany::accompany`], [`accompany::report`] |
//! | theme compose / extract / report / evaluate | [`theme::compose`], [`theme::extract`], [`theme::report`], [`theme::evaluate`] |
//! | render | [`render::render`] |
//! | play | [`play::play`] |
//! | play live (call and response) | [`live::live`] |
//! | record from a keyboard | [`record::record`], [`record::Recording`] |
//! | clone a timbre | [`timbre::clone`] |
//! | continuation report | [`evaluate::continuation`] |
//!
//! Training and NLL evaluation live in the `train` wing (`train::train`, `train::eval`), which only
//! the CLI calls.

pub mod accompany;
pub mod engine;
pub mod evaluate;
pub mod generate;
pub mod harmonize;
pub mod infill;
pub mod live;
pub mod models;
pub mod play;
pub mod record;
pub mod render;
pub mod theme;
pub mod timbre;
