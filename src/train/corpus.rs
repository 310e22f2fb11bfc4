//! The corpus a Theme Transformer trains on, whichever its task: pieces of encoder input (a theme,
//! or a window's melody) and decoder tokens with their theme counter and gate.

/// One song for the theme model.
#[derive(Debug, Clone, PartialEq)]
pub struct ThemePiece {
    /// The theme's melody in REMI (encoder input).
    pub theme: Vec<u32>,
    /// The encoder's positions: token indices for themes, time positions for melodies.
    pub theme_pos: Vec<u32>,
    /// `[BOS, song…]` in REMI with theme regions marked.
    pub ids: Vec<u32>,
    /// Theme counter per token of `ids`.
    pub counter: Vec<u32>,
    /// Gate per token of `ids`.
    pub gate: Vec<f32>,
}

/// The songs of one split that have a theme.
#[derive(Debug, Clone, Default)]
pub struct ThemeCorpus {
    /// The pieces.
    pub pieces: Vec<ThemePiece>,
    /// Songs left out because retrieval found no theme.
    pub without_theme: usize,
    /// Seconds of music in the pieces.
    pub seconds: f64,
}
