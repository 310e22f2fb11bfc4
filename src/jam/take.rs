//! Everything a session played, and the MIDI file it becomes: the player and Reprise on two tracks,
//! on the session's beat (tick 0 the first downbeat), so a DAW shows its bars.

use super::tempo::Beat;
use super::Note;
use crate::error::Result;
use crate::midi::{Score, TrackRole};

/// How one answer went.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AnswerReport {
    /// Session seconds the answer was due to start (the pause detected).
    pub start: f64,
    /// Notes sounded.
    pub notes: usize,
    /// Stopped by the player.
    pub interrupted: bool,
    /// When its first note was due.
    pub first_due: Option<f64>,
    /// When its first note was sent.
    pub first_sent: Option<f64>,
}

impl AnswerReport {
    /// How late the first note sounded: sent minus due (or minus the start, if it was due before).
    pub fn lateness(&self) -> Option<f64> {
        Some(self.first_sent? - self.first_due?.max(self.start))
    }
}

/// A finished session.
#[derive(Debug, Clone, Default)]
pub struct Take {
    /// The player's notes.
    pub player: Vec<Note>,
    /// Reprise's notes as they sounded.
    pub reprise: Vec<Note>,
    /// The beat, if one was set.
    pub beat: Option<Beat>,
    /// How each answer went.
    pub answers: Vec<AnswerReport>,
}

/// The tempo of a take without a beat.
const DEFAULT_BPM: f64 = 120.0;

impl Take {
    /// The take as a score: track "Player" (channel 0) and track "Reprise" (channel 1), both piano,
    /// at the session's tempo, starting at its first downbeat (or its first note).
    pub fn to_score(&self) -> Result<Score> {
        let first = self
            .player
            .iter()
            .chain(&self.reprise)
            .map(|n| n.start)
            .fold(f64::INFINITY, f64::min);
        let (bpm, origin) = match self.beat {
            Some(b) => (b.bpm, b.origin.min(first)),
            None => (DEFAULT_BPM, if first.is_finite() { first } else { 0.0 }),
        };
        let mut s = Score::new(480, (60e6 / bpm).round() as u32)?;
        for (name, channel, notes) in [("Player", 0u8, &self.player), ("Reprise", 1, &self.reprise)]
        {
            let t = s.add_track(name, TrackRole::Other);
            for n in notes {
                let start = n.start - origin;
                let end = (n.end - origin).max(start + 0.005);
                s.push_note_seconds(t, channel, 0, n.pitch, n.velocity, start, end);
            }
        }
        s.sort();
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_two_tracks_from_the_first_downbeat() {
        let note = |pitch, start, end| Note {
            pitch,
            start,
            end,
            velocity: 80,
        };
        let take = Take {
            player: vec![note(60, 3.0, 3.5), note(62, 3.5, 4.0)],
            reprise: vec![note(67, 5.0, 6.0)],
            beat: Some(Beat {
                bpm: 120.0,
                origin: 3.0,
            }),
            answers: Vec::new(),
        };
        let s = take.to_score().unwrap();
        assert_eq!(s.tracks.len(), 2);
        let ticks: Vec<(usize, u64)> = s.notes.iter().map(|n| (n.track, n.start_tick)).collect();
        assert_eq!(ticks, vec![(0, 0), (0, 480), (1, 1920)]);
    }
}
