//! Recording a phrase from the keyboard: a count-in, a metronome on the General MIDI drum channel,
//! the player echoed to the output, and the take as a score on the metronome's beat (tick 0 the
//! first downbeat after the count-in, or the count-in's own bar if the player came in early).

use super::listener::Listener;
use super::tempo::{Beat, BEATS_PER_BAR};
use crate::error::Result;
use crate::midi::{Score, TrackRole};
use crate::ports::{Message, MidiSink, Timed};

/// The General MIDI drum channel.
const DRUMS: u8 = 9;
/// Hi and low wood block: the downbeat and the other beats.
const CLICKS: [u8; 2] = [76, 77];
/// How long a click is held.
const CLICK_SECONDS: f64 = 0.05;

/// Where a recording is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Counting in: this many beats before the first downbeat.
    CountIn(u32),
    /// Recording: this bar (1-based).
    Recording(usize),
}

/// How to record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordSettings {
    /// Tempo of the metronome.
    pub bpm: f64,
    /// Bars counted in before the take (0–4).
    pub count_in_bars: u32,
    /// Click every beat (the count-in clicks regardless).
    pub metronome: bool,
    /// Echo the player on this channel.
    pub thru: Option<u8>,
}

/// A recording in progress.
pub struct Recorder {
    settings: RecordSettings,
    /// The first downbeat of the take.
    beat: Beat,
    /// When the count-in started.
    start: f64,
    /// The next beat to click, counted from `start`.
    next_click: u64,
    /// A click to release at this time.
    click_off: Option<(f64, u8)>,
    listener: Listener,
}

impl Recorder {
    /// Starts counting in at `start` (session seconds).
    pub fn new(settings: RecordSettings, start: f64) -> Self {
        let bar = BEATS_PER_BAR * 60.0 / settings.bpm;
        Recorder {
            settings,
            beat: Beat {
                bpm: settings.bpm,
                origin: start + settings.count_in_bars as f64 * bar,
            },
            start,
            next_click: 0,
            click_off: None,
            listener: Listener::new(),
        }
    }

    /// Where the recording is at `now`.
    pub fn phase(&self, now: f64) -> Phase {
        if now < self.beat.origin {
            let left = ((self.beat.origin - now) / self.beat.beat_seconds()).ceil();
            Phase::CountIn(left as u32)
        } else {
            Phase::Recording(((now - self.beat.origin) / self.beat.bar_seconds()) as usize + 1)
        }
    }

    /// Takes what was played and clicks what is due by `now` into `sink`.
    pub fn step(&mut self, now: f64, played: &[Timed], sink: &mut dyn MidiSink) -> Result<()> {
        for m in played {
            self.listener.hear(m);
            if let Some(echo) = self.settings.thru.and_then(|c| m.message.on_channel(c)) {
                sink.send(echo)?;
            }
        }
        if let Some((_, pitch)) = self.click_off.filter(|c| c.0 <= now) {
            sink.send(Message::NoteOff {
                channel: DRUMS,
                pitch,
            })?;
            self.click_off = None;
        }
        let beat = self.beat.beat_seconds();
        let counted = self.settings.count_in_bars as u64 * BEATS_PER_BAR as u64;
        while self.start + self.next_click as f64 * beat <= now {
            let k = self.next_click;
            self.next_click += 1;
            let due = self.start + k as f64 * beat;
            if (k >= counted && !self.settings.metronome) || now - due > beat / 2.0 {
                continue;
            }
            let pitch = CLICKS[usize::from(!k.is_multiple_of(BEATS_PER_BAR as u64))];
            sink.send(Message::NoteOn {
                channel: DRUMS,
                pitch,
                velocity: if pitch == CLICKS[0] { 110 } else { 80 },
            })?;
            self.click_off = Some((now + CLICK_SECONDS, pitch));
        }
        Ok(())
    }

    /// Ends the take at `now`: the player's notes on one piano track at the metronome's tempo.
    pub fn finish(mut self, now: f64) -> Result<Score> {
        self.listener.close(now);
        let notes = self.listener.notes();
        let early = notes.iter().any(|n| n.start < self.beat.origin - 1e-9);
        let origin = if early {
            self.beat.origin - self.beat.bar_seconds()
        } else {
            self.beat.origin
        };
        let mut s = Score::new(480, (60e6 / self.settings.bpm).round() as u32)?;
        let t = s.add_track("Recorded", TrackRole::Other);
        for n in notes.iter().filter(|n| n.start >= origin - 1e-9) {
            let start = (n.start - origin).max(0.0);
            let end = (n.end - origin).max(start + 0.01);
            s.push_note_seconds(t, 0, 0, n.pitch, n.velocity, start, end);
        }
        s.sort();
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::scripted::RecordingSink;

    fn settings(metronome: bool) -> RecordSettings {
        RecordSettings {
            bpm: 120.0,
            count_in_bars: 1,
            metronome,
            thru: Some(0),
        }
    }

    fn key(time: f64, pitch: u8, on: bool) -> Timed {
        let message = if on {
            Message::NoteOn {
                channel: 3,
                pitch,
                velocity: 90,
            }
        } else {
            Message::NoteOff { channel: 3, pitch }
        };
        Timed { time, message }
    }

    /// Steps `r` every 10 ms from 0 to `until`, playing `script`.
    fn run(r: &mut Recorder, script: &[Timed], until: f64, sink: &mut RecordingSink) {
        let mut i = 0;
        for step in 0..=(until * 100.0) as usize {
            let now = step as f64 / 100.0;
            let j = script.partition_point(|m| m.time <= now);
            r.step(now, &script[i..j], sink).unwrap();
            i = j;
        }
    }

    #[test]
    fn counts_in_clicks_and_records_from_the_first_downbeat() {
        let mut r = Recorder::new(settings(true), 0.0);
        assert_eq!(r.phase(0.1), Phase::CountIn(4));
        assert_eq!(r.phase(1.6), Phase::CountIn(1));
        assert_eq!(r.phase(2.0), Phase::Recording(1));
        assert_eq!(r.phase(4.1), Phase::Recording(2));
        let script = [
            key(2.01, 60, true),
            key(2.4, 60, false),
            key(2.5, 64, true),
            key(3.0, 64, false),
        ];
        let mut sink = RecordingSink::default();
        run(&mut r, &script, 3.9, &mut sink);
        let sent = sink.log().lock().unwrap().clone();
        let clicks: Vec<u8> = sent
            .iter()
            .filter_map(|m| match m {
                Message::NoteOn {
                    channel: 9, pitch, ..
                } => Some(*pitch),
                _ => None,
            })
            .collect();
        // Four count-in beats and four beats of the take (2.0–3.5 s), the downbeats high.
        assert_eq!(clicks, vec![76, 77, 77, 77, 76, 77, 77, 77]);
        let echoed = sent
            .iter()
            .filter(|m| matches!(m, Message::NoteOn { channel: 0, .. }))
            .count();
        assert_eq!(echoed, 2);
        let s = r.finish(4.0).unwrap();
        let notes: Vec<(u8, u64)> = s.notes.iter().map(|n| (n.pitch, n.start_tick)).collect();
        assert_eq!(notes, vec![(60, 10), (64, 480)]);
    }

    #[test]
    fn an_early_note_keeps_the_count_in_bar_as_a_pickup() {
        let mut r = Recorder::new(settings(false), 0.0);
        let script = [key(1.5, 67, true), key(1.9, 67, false), key(2.0, 60, true)];
        let mut sink = RecordingSink::default();
        run(&mut r, &script, 2.6, &mut sink);
        let clicks = sink
            .log()
            .lock()
            .unwrap()
            .iter()
            .filter(|m| matches!(m, Message::NoteOn { channel: 9, .. }))
            .count();
        assert_eq!(clicks, 4, "the count-in only");
        let s = r.finish(2.5).unwrap();
        let notes: Vec<(u8, u64)> = s.notes.iter().map(|n| (n.pitch, n.start_tick)).collect();
        assert_eq!(notes, vec![(67, 1440), (60, 1920)]);
        assert!(
            (s.notes[1].end - 2.5).abs() < 1e-3,
            "the held key closes at the stop"
        );
    }
}
