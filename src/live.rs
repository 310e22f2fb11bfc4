//! Playing music while it is generated: note events from a running generation become notes appended
//! to a [`Player`], and the playhead may run up to the time where every note is known. If the
//! generator cannot keep ahead of the music, the playhead waits there (a stall) and goes on when
//! more music exists; nothing is skipped.

use std::collections::HashMap;

use crate::audio::playback::Player;
use crate::generate::tasks::GenEvent;
use crate::midi::{Score, TrackRole};

/// Turns one sample's note events into appended notes.
pub struct LiveFeed<'a> {
    player: &'a Player,
    open: HashMap<(u8, u8), (u8, u8, f64)>,
    latest: f64,
    appended: usize,
}

impl<'a> LiveFeed<'a> {
    /// Feeds `player`.
    pub fn new(player: &'a Player) -> Self {
        LiveFeed {
            player,
            open: HashMap::new(),
            latest: 0.0,
            appended: 0,
        }
    }

    /// Notes appended so far.
    pub fn appended(&self) -> usize {
        self.appended
    }

    /// Takes one event of the generation (tokens are ignored).
    pub fn on_event(&mut self, e: GenEvent) {
        let GenEvent::Note {
            channel,
            program,
            event,
        } = e
        else {
            return;
        };
        let (pitch, time) = (event.pitch(), event.time());
        self.latest = self.latest.max(time);
        if let Some(velocity) = event.velocity() {
            self.open
                .insert((channel, pitch), (program, velocity, time));
        } else if let Some((program, velocity, start)) = self.open.remove(&(channel, pitch)) {
            let mut part = Score::new(480, 500_000).expect("constant tempo is valid");
            let t = part.add_track("live", TrackRole::Other);
            part.push_note_seconds(t, channel, program, pitch, velocity, start, time);
            self.player.append(&part, self.ready_until());
            self.appended += 1;
        }
    }

    /// Up to where every note is known: the latest event, but not past a note still sounding.
    fn ready_until(&self) -> f64 {
        self.open
            .values()
            .map(|&(_, _, start)| start)
            .fold(self.latest, f64::min)
    }
}

/// Starts playing `base` (the primer) from two seconds before its end on `output`; what a
/// [`LiveFeed`] appends plays after it, and the playhead waits where the music does not exist yet.
pub fn start(
    base: &Score,
    soundfont: &std::sync::Arc<rustysynth::SoundFont>,
    output: Box<dyn crate::audio::playback::Output>,
) -> crate::Result<Player> {
    use crate::audio::playback::PlayOptions;
    let end = base.duration();
    let opts = PlayOptions {
        from_seconds: (end - 2.0).max(0.0),
        streaming: true,
        hold_seconds: end,
        gain: 1.0,
    };
    Player::start(base, soundfont, output, opts)
}

/// After generation: appends the new notes of `output` when none were streamed (models whose events
/// do not stream, such as the chorale grid), and lets the music play to its end.
pub fn complete(player: &Player, base: &Score, output: &Score, streamed: usize) {
    if streamed == 0 {
        let end = base.duration();
        let mut rest = output.clone();
        rest.notes.retain(|n| n.start >= end - 1e-6);
        player.append(&rest, rest.duration());
    }
    player.complete();
}
