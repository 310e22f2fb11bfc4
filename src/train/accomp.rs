//! Training data of the accompaniment model: POP909's MELODY → PIANO, cut into windows of whole bars.
//! The decoder reads `[BOS]` and the piano bars of a window (at most the model's context); the encoder
//! reads the melody of the same bars and one more ([`LOOKAHEAD_BARS`]). BRIDGE (a second melody line)
//! is left out on both sides: a user gives one melody, and the piano part is what we learn.

use std::path::Path;

use rayon::prelude::*;

use super::corpus::{ThemeCorpus, ThemePiece};
use crate::accompany::bars::{
    bar_tokens, chord_notes, encoder_bar_tokens, melody_window, place, time_positions,
};
use crate::accompany::chords::{annotated_chords, BeatChord};
use crate::accompany::harmony::HarmonyExample;
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};
use crate::model::theme_transformer::ThemeConfig;
use crate::tokens::remi::Part;
use crate::tokens::BOS;

/// Training windows start every this many bars (they overlap); validation windows do not overlap.
pub const TRAIN_STRIDE_BARS: usize = 4;
/// Most bars in a window.
pub const WINDOW_BARS: usize = 12;

/// A song's windows: `stride` bars apart, or back to back when `stride` is `None`. Windows without
/// a piano note are skipped. `chords` (one per beat, empty for none) go to the encoder with the
/// melody.
pub fn song_windows(
    score: &Score,
    bars: &[u64],
    chords: &[Option<BeatChord>],
    cfg: &ThemeConfig,
    stride: Option<usize>,
) -> Vec<ThemePiece> {
    let n_bars = bars.len().saturating_sub(1);
    let melody = encoder_bar_tokens(
        &place(score.role_notes(TrackRole::Melody), bars),
        &chord_notes(chords),
        n_bars,
    );
    let piano_notes = place(score.role_notes(TrackRole::Accompaniment), bars);
    let piano = bar_tokens(&piano_notes, n_bars, Part::Piano);
    let mut out = Vec::new();
    let mut first = 0;
    while first < n_bars {
        let mut ids = vec![BOS];
        let mut end = first;
        while end < n_bars
            && end - first < WINDOW_BARS
            && ids.len() + piano[end].len() <= cfg.max_len + 1
        {
            ids.extend(&piano[end]);
            end += 1;
        }
        if end == first {
            // One bar longer than the context: keep its beginning.
            ids.extend(&piano[first]);
            ids.truncate(cfg.max_len + 1);
            end = first + 1;
        }
        let has_notes = piano_notes.iter().any(|n| (first..end).contains(&n.bar));
        if has_notes {
            let theme = melody_window(&melody, first, end, cfg.max_theme);
            out.push(ThemePiece {
                theme_pos: time_positions(&theme),
                counter: time_positions(&ids),
                gate: vec![1.0; ids.len()],
                theme,
                ids,
            });
        }
        first = match stride {
            Some(s) => first + s.max(1),
            None => end,
        };
    }
    out
}

/// The POP909 songs of `split` as harmonizer examples: each song's MELODY on its bars and its
/// annotated chord per beat, in song order.
pub fn harmony_examples(root: &Path, split: &str) -> Result<Vec<HarmonyExample>> {
    let songs = crate::pop909::songs(root, split)?;
    songs
        .par_iter()
        .map(|song| {
            let score = song.score()?;
            let bars = song.bars(&score);
            Ok(HarmonyExample {
                melody: place(score.role_notes(TrackRole::Melody), &bars),
                chords: annotated_chords(&song.dir, &score, &bars)?,
            })
        })
        .collect::<Vec<Result<_>>>()
        .into_iter()
        .collect()
}

/// The windows of every POP909 song of `split` (bars from `beat_midi.txt`); songs without a MELODY or
/// PIANO note are counted in `without_theme`.
pub fn load_accomp_corpus(root: &Path, split: &str, cfg: &ThemeConfig) -> Result<ThemeCorpus> {
    if !crate::pop909::is_pop909(root) {
        return Err(Error::bad_file(
            root,
            "is not a POP909 directory (NNN/NNN.mid) as the accompaniment model needs",
        ));
    }
    let stride = (split == "train").then_some(TRAIN_STRIDE_BARS);
    let songs = crate::pop909::songs(root, split)?;
    let per_song: Vec<(Vec<ThemePiece>, f64)> = songs
        .par_iter()
        .map(|song| {
            let score = song.score()?;
            let bars = song.bars(&score);
            let has_melody = !score.role_notes(TrackRole::Melody).is_empty();
            let chords = if cfg.chords {
                annotated_chords(&song.dir, &score, &bars)?
            } else {
                Vec::new()
            };
            let windows = if has_melody {
                song_windows(&score, &bars, &chords, cfg, stride)
            } else {
                Vec::new()
            };
            Ok((windows, score.duration()))
        })
        .collect::<Result<_>>()?;
    let mut corpus = ThemeCorpus::default();
    for (windows, seconds) in per_song {
        if windows.is_empty() {
            corpus.without_theme += 1;
        } else {
            corpus.pieces.extend(windows);
            corpus.seconds += seconds;
        }
    }
    if corpus.pieces.is_empty() {
        return Err(Error::bad_file(
            root,
            format!("no song of split {split} has a melody and a piano part"),
        ));
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::theme_transformer::ThemeTask;
    use crate::tokens::remi;

    fn cfg(max_len: usize) -> ThemeConfig {
        ThemeConfig {
            gated: false,
            ..crate::test_util::tiny_theme_config(ThemeTask::Accompany, max_len, 64)
        }
    }

    /// 16 bars: a melody note and two piano notes per bar.
    fn song() -> (Score, Vec<u64>) {
        let mut s = Score::new(480, 500_000).unwrap();
        let m = s.add_track("MELODY", TrackRole::Melody);
        let p = s.add_track("PIANO", TrackRole::Accompaniment);
        for bar in 0..16u64 {
            let t = bar * 1920;
            s.push_note_ticks(m, 0, 0, 72 + (bar % 5) as u8, 90, t, t + 960);
            s.push_note_ticks(p, 1, 0, 48, 60, t, t + 1920);
            s.push_note_ticks(p, 1, 0, 55, 60, t + 960, t + 1920);
        }
        s.sort();
        let bars = (0..=16).map(|b| b * 1920).collect();
        (s, bars)
    }

    #[test]
    fn windows_hold_whole_bars_and_align_melody_and_piano() {
        let (s, bars) = song();
        // A bar of piano is Bar + 2 × (Position + 3 note tokens) = 9 tokens.
        let c = cfg(40); // 1 + 4 bars × 9 = 37 ≤ 41
        let disjoint = song_windows(&s, &bars, &[], &c, None);
        assert_eq!(disjoint.len(), 4);
        for w in &disjoint {
            assert_eq!(w.ids.len(), 37);
            assert_eq!(w.ids[0], BOS);
            assert_eq!(w.ids.iter().filter(|&&i| i == remi::BAR).count(), 4);
            // Melody of the 4 bars and one more: Bar, Position, 3 note tokens each.
            assert!(w.theme.len() == 25 || w.theme.len() == 20);
            assert_eq!(w.counter.len(), w.ids.len());
            assert_eq!(w.theme_pos.len(), w.theme.len());
            // The same bar has the same time on both sides.
            assert_eq!(w.theme_pos[5], w.counter[10]);
            assert_eq!(w.counter[10], 17);
        }
        let overlapping = song_windows(&s, &bars, &[], &c, Some(TRAIN_STRIDE_BARS / 2));
        assert_eq!(overlapping.len(), 8);
        // A context shorter than a bar keeps the bar's beginning.
        let tiny = song_windows(&s, &bars, &[], &cfg(5), None);
        assert_eq!(tiny.len(), 16);
        assert!(tiny.iter().all(|w| w.ids.len() == 6));
    }
}
