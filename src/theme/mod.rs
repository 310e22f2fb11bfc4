//! Themes (after Shih et al. 2022): finding a song's theme and its recurrences.

pub mod retrieval;

pub use retrieval::{find_theme, Settings, Theme};
