//! Writing a `Score` as a format-1 Standard MIDI File with its tempo map.

use std::io::Write;
use std::path::Path;

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use super::score::{ControlKind, Note, Score, TrackRole};
use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

/// Writes `score` to `path` (all-or-nothing).
pub fn write_file(score: &Score, path: &Path) -> Result<()> {
    let bytes = to_bytes(score)?;
    write_atomic(path, |w| {
        w.write_all(&bytes).map_err(|e| Error::io(path, e))
    })
}

/// Writes `scores[i]` to `paths[i]`, all or none (see [`crate::atomic_file::write_all_atomic`]).
pub fn write_files(scores: &[Score], paths: &[std::path::PathBuf]) -> Result<()> {
    let bytes: Vec<Vec<u8>> = scores.iter().map(to_bytes).collect::<Result<_>>()?;
    crate::atomic_file::write_all_atomic(paths, |i, w| {
        w.write_all(&bytes[i]).map_err(|e| Error::io(&paths[i], e))
    })
}

/// One track's events: tick, order among events at the same tick, event.
type Events<'a> = Vec<(u64, u8, TrackEventKind<'a>)>;

/// Serialises `score` as a format-1 SMF: a conductor track (tempo, time signatures), then one track per
/// score track with its name, program changes, notes, sustain pedal and controls.
pub fn to_bytes(score: &Score) -> Result<Vec<u8>> {
    let ppq = u15::try_from(score.ppq())
        .ok_or_else(|| Error::Invalid(format!("{} ticks per quarter is too many", score.ppq())))?;
    let mut tracks: Vec<Events<'_>> = vec![conductor(score)];
    let mut names = Vec::new();
    for t in &score.tracks {
        names.push(track_name(&t.name, t.role).into_bytes());
    }
    for name in &names {
        tracks.push(vec![(
            0,
            0,
            TrackEventKind::Meta(MetaMessage::TrackName(name)),
        )]);
    }
    push_notes(score, &mut tracks)?;
    push_sustain(score, &mut tracks)?;
    push_controls(score, &mut tracks)?;
    let end = score.end_tick();
    let mut smf = Smf::new(Header::new(Format::Parallel, Timing::Metrical(ppq)));
    for events in tracks {
        smf.tracks.push(to_track(events, end));
    }
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .map_err(|e| Error::Internal(format!("writing MIDI: {e}")))?;
    Ok(out)
}

/// The notes, in time order, each preceded by a program change when its channel's program changes.
fn push_notes(score: &Score, tracks: &mut [Events<'_>]) -> Result<()> {
    let mut programs = [None::<u8>; 16];
    let mut notes: Vec<&Note> = score.notes.iter().collect();
    notes.sort_by_key(|n| (n.start_tick, n.track, n.pitch));
    for n in notes {
        let Some(track) = tracks.get_mut(n.track + 1) else {
            return Err(Error::Invalid(format!(
                "note refers to missing track {}",
                n.track
            )));
        };
        let channel = u4::new(n.channel & 15);
        if programs[channel.as_int() as usize] != Some(n.program) {
            programs[channel.as_int() as usize] = Some(n.program);
            let message = MidiMessage::ProgramChange {
                program: u7::new(n.program & 127),
            };
            track.push((n.start_tick, 3, TrackEventKind::Midi { channel, message }));
        }
        let key = u7::new(n.pitch & 127);
        let on = MidiMessage::NoteOn {
            key,
            vel: u7::new(n.velocity.clamp(1, 127)),
        };
        let off = MidiMessage::NoteOff {
            key,
            vel: u7::new(0),
        };
        track.push((
            n.start_tick,
            3,
            TrackEventKind::Midi {
                channel,
                message: on,
            },
        ));
        track.push((
            n.end_tick.max(n.start_tick + 1),
            2,
            TrackEventKind::Midi {
                channel,
                message: off,
            },
        ));
    }
    Ok(())
}

/// The sustain pedal: controller 64 down at each span's start, up at its end.
fn push_sustain(score: &Score, tracks: &mut [Events<'_>]) -> Result<()> {
    for s in &score.sustain {
        let track = track_mut(tracks, s.track)?;
        let channel = u4::new(s.channel & 15);
        for (tick, value) in [(s.start_tick, 127), (s.end_tick, 0)] {
            let message = MidiMessage::Controller {
                controller: u7::new(64),
                value: u7::new(value),
            };
            track.push((tick, 1, TrackEventKind::Midi { channel, message }));
        }
    }
    Ok(())
}

/// The other controllers and the pitch bends.
fn push_controls(score: &Score, tracks: &mut [Events<'_>]) -> Result<()> {
    for c in &score.controls {
        let track = track_mut(tracks, c.track)?;
        let message = match c.kind {
            ControlKind::Controller { number, value } => MidiMessage::Controller {
                controller: u7::new(number & 127),
                value: u7::new(value & 127),
            },
            ControlKind::PitchBend(b) => MidiMessage::PitchBend {
                bend: midly::PitchBend::from_int(b.clamp(-8192, 8191)),
            },
        };
        let channel = u4::new(c.channel & 15);
        track.push((c.tick, 0, TrackEventKind::Midi { channel, message }));
    }
    Ok(())
}

fn track_mut<'a, 'b>(
    tracks: &'a mut [Vec<(u64, u8, TrackEventKind<'b>)>],
    index: usize,
) -> Result<&'a mut Vec<(u64, u8, TrackEventKind<'b>)>> {
    tracks
        .get_mut(index + 1)
        .ok_or_else(|| Error::Invalid(format!("event refers to missing track {index}")))
}

/// The tempo changes and time signatures.
fn conductor(score: &Score) -> Vec<(u64, u8, TrackEventKind<'static>)> {
    let mut events = Vec::new();
    for ts in &score.time_signatures {
        let pow = ts.denominator.max(1).trailing_zeros() as u8;
        let meta = MetaMessage::TimeSignature(ts.numerator, pow, 24, 8);
        events.push((ts.tick, 0, TrackEventKind::Meta(meta)));
    }
    for c in score.tempo_map.changes() {
        let meta = MetaMessage::Tempo(u24::new(c.us_per_quarter.min(0xFF_FFFF)));
        events.push((c.tick, 0, TrackEventKind::Meta(meta)));
    }
    events
}

/// Orders events by (tick, rank) — controls 0, sustain 1, note-offs 2, program changes and note-ons 3,
/// the last two kept in insertion order so that each program change precedes its note — turns absolute
/// ticks into deltas and ends the track at `end`. Gaps too long for one delta are bridged by empty markers.
fn to_track(mut events: Vec<(u64, u8, TrackEventKind<'_>)>, end: u64) -> Vec<TrackEvent<'_>> {
    events.sort_by_key(|&(tick, rank, _)| (tick, rank));
    let mut out = Vec::with_capacity(events.len() + 1);
    let mut last = 0u64;
    let end = end.max(events.last().map_or(0, |e| e.0));
    events.push((end, u8::MAX, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
    let max_delta = u28::max_value().as_int() as u64;
    for (tick, _, kind) in events {
        while tick - last > max_delta {
            let kind = TrackEventKind::Meta(MetaMessage::Marker(b""));
            out.push(TrackEvent {
                delta: u28::max_value(),
                kind,
            });
            last += max_delta;
        }
        out.push(TrackEvent {
            delta: u28::new((tick - last) as u32),
            kind,
        });
        last = tick;
    }
    out
}

/// The name written for a track: its own, or one that `read` maps back to the same role.
fn track_name(name: &str, role: TrackRole) -> String {
    if !name.is_empty() {
        return name.to_string();
    }
    match role {
        TrackRole::Melody => "MELODY",
        TrackRole::Bridge => "BRIDGE",
        TrackRole::Accompaniment => "PIANO",
        TrackRole::Voice(0) => "Soprano",
        TrackRole::Voice(1) => "Alto",
        TrackRole::Voice(2) => "Tenor",
        TrackRole::Voice(_) => "Bass voice",
        TrackRole::Drums => "Drums",
        TrackRole::Other => "",
    }
    .to_string()
}
