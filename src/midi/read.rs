//! Reading Standard MIDI Files (via midly) into a `Score`.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

use super::score::{
    Control, ControlKind, Score, SustainSpan, TempoChange, TempoMap, TimeSignature, Track,
    TrackRole, DRUM_CHANNEL, MAX_NOTES,
};
use crate::error::{Error, Result};

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Tempos faster than this (µs per quarter note; 3000 BPM) are rejected as absurd.
pub const MIN_US_PER_QUARTER: u32 = 20_000;

/// Scores longer than this (seconds; 24 hours) are rejected as absurd.
pub const MAX_SECONDS: f64 = 86_400.0;

/// Reads a Standard MIDI File (format 0 or 1) from disk.
pub fn read_file(path: &Path) -> Result<Score> {
    let bytes = crate::input::read(path, MAX_FILE_BYTES, "MIDI file")?;
    parse(&bytes, path)
}

/// Parses SMF bytes; `origin` names the source in error messages.
pub fn parse(bytes: &[u8], origin: &Path) -> Result<Score> {
    let bad = |msg: String| Error::bad_file(origin, msg);
    let patched = check_chunks(bytes, origin).map_err(bad)?;
    let smf = Smf::parse(patched.as_deref().unwrap_or(bytes))
        .map_err(|e| bad(format!("malformed MIDI: {e}")))?;
    convert(&smf).map_err(bad)
}

/// Walks the chunk structure: the header must come first and every chunk must fit in the file.
/// Returns patched bytes when the header's track count disagrees with the chunks found, or when
/// fewer than 8 bytes (too few for a chunk) follow the last chunk: that padding is dropped with a
/// warning, as other readers do.
fn check_chunks(bytes: &[u8], origin: &Path) -> Result<Option<Vec<u8>>, String> {
    if bytes.len() < 14 || &bytes[0..4] != b"MThd" {
        return Err("not a Standard MIDI File (no MThd header)".into());
    }
    let mut pos = 0usize;
    let mut tracks = 0usize;
    let mut index = 0usize;
    let mut padding = 0;
    while pos < bytes.len() {
        if bytes.len() - pos < 8 {
            if index < 2 {
                return Err(format!(
                    "truncated file: {} stray bytes at offset {pos}",
                    bytes.len() - pos
                ));
            }
            // Padding after the last chunk (some writers align files): other readers ignore it.
            padding = bytes.len() - pos;
            break;
        }
        let id = &bytes[pos..pos + 4];
        let len = u32::from_be_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let remaining = bytes.len() - pos - 8;
        if len > remaining {
            return Err(format!(
                "truncated file: chunk {index} ({}) at offset {pos} claims {len} bytes but only {remaining} remain",
                String::from_utf8_lossy(id)
            ));
        }
        if id == b"MTrk" {
            tracks += 1;
        }
        pos += 8 + len;
        index += 1;
    }
    let declared = u16::from_be_bytes([bytes[10], bytes[11]]) as usize;
    if padding == 0 && (declared == tracks || tracks > u16::MAX as usize) {
        return Ok(None);
    }
    let mut patched = bytes[..pos].to_vec();
    if padding > 0 {
        crate::error::warn(&format!(
            "{}: {padding} stray bytes after the last chunk ignored (offset {pos})",
            origin.display()
        ));
    }
    if tracks > u16::MAX as usize {
        return Ok(Some(patched));
    }
    patched[10..12].copy_from_slice(&(tracks as u16).to_be_bytes());
    Ok(Some(patched))
}

/// A channel event with its absolute tick and the SMF track it came from.
struct TimedEvent<'a> {
    tick: u64,
    track: usize,
    channel: u8,
    message: &'a MidiMessage,
}

fn convert(smf: &Smf) -> Result<Score, String> {
    if smf.header.format == Format::Sequential {
        return Err(
            "MIDI format 2 (independent sequences) is not supported; use format 0 or 1".into(),
        );
    }
    let (ppq, smpte) = match smf.header.timing {
        Timing::Metrical(t) if t.as_int() == 0 => {
            return Err("division is 0 ticks per quarter note".into())
        }
        Timing::Metrical(t) => (t.as_int(), false),
        Timing::Timecode(fps, sub) => {
            let per_second = fps.as_int() as u32 * sub as u32;
            if per_second == 0 || per_second > u16::MAX as u32 {
                return Err(format!(
                    "SMPTE division of {} fps × {sub} subframes is unusable",
                    fps.as_int()
                ));
            }
            (per_second as u16, true)
        }
    };
    let mut tempos = Vec::new();
    let mut signatures = Vec::new();
    let mut names = vec![String::new(); smf.tracks.len()];
    let mut events = Vec::new();
    let mut file_end = 0u64;
    for (ti, track) in smf.tracks.iter().enumerate() {
        let mut tick = 0u64;
        for ev in track {
            tick += ev.delta.as_int() as u64;
            match &ev.kind {
                TrackEventKind::Midi { channel, message } => events.push(TimedEvent {
                    tick,
                    track: ti,
                    channel: channel.as_int(),
                    message,
                }),
                TrackEventKind::Meta(MetaMessage::Tempo(us)) if !smpte => {
                    tempos.push(checked_tempo(us.as_int(), tick)?)
                }
                TrackEventKind::Meta(MetaMessage::TimeSignature(num, den_pow, _, _)) => signatures
                    .push(TimeSignature {
                        tick,
                        numerator: *num,
                        denominator: 1u16.checked_shl(*den_pow as u32).unwrap_or(4),
                    }),
                TrackEventKind::Meta(MetaMessage::TrackName(n)) if names[ti].is_empty() => {
                    names[ti] = String::from_utf8_lossy(n).trim().to_string()
                }
                _ => {}
            }
        }
        file_end = file_end.max(tick);
    }
    // SMPTE: one quarter note per second at `ppq` = ticks per second, so ticks keep their meaning.
    let tempo_map = if smpte {
        TempoMap::constant(ppq, 1_000_000)
    } else {
        TempoMap::new(ppq, tempos)
    }
    .map_err(|e| e.to_string())?;
    if tempo_map.seconds(file_end) > MAX_SECONDS {
        return Err(format!(
            "absurd length: {:.0} hours of music",
            tempo_map.seconds(file_end) / 3600.0
        ));
    }
    events.sort_by_key(|e| (e.tick, e.track));
    let mut builder = Builder::new(tempo_map, smf.tracks.len());
    for e in &events {
        builder.event(e)?;
    }
    let mut score = builder.finish(file_end, names);
    score.time_signatures = signatures;
    score.sort();
    Ok(score)
}

fn checked_tempo(us: u32, tick: u64) -> Result<TempoChange, String> {
    if us < MIN_US_PER_QUARTER {
        let bpm = if us == 0 {
            "infinite".to_string()
        } else {
            format!("{:.0}", 60e6 / us as f64)
        };
        return Err(format!(
            "absurd tempo at tick {tick}: {us} µs per quarter note ({bpm} BPM)"
        ));
    }
    Ok(TempoChange {
        tick,
        us_per_quarter: us,
    })
}

/// A note waiting for its release: start tick, velocity, program, track.
type OpenNote = (u64, u8, u8, usize);

/// Turns time-ordered channel events into notes, sustain spans and controls.
struct Builder {
    score: Score,
    programs: [u8; 16],
    /// Open notes per (channel, pitch), oldest first: (start tick, velocity, program, track).
    open: HashMap<(u8, u8), VecDeque<OpenNote>>,
    /// Pedal-down tick and track per channel.
    pedal: [Option<(u64, usize)>; 16],
    /// Note-ons seen so far.
    onsets: usize,
    used_tracks: Vec<bool>,
}

impl Builder {
    fn new(tempo_map: TempoMap, tracks: usize) -> Self {
        Builder {
            score: Score {
                tempo_map,
                time_signatures: Vec::new(),
                tracks: Vec::new(),
                notes: Vec::new(),
                sustain: Vec::new(),
                controls: Vec::new(),
            },
            onsets: 0,
            programs: [0; 16],
            open: HashMap::new(),
            pedal: [None; 16],
            used_tracks: vec![false; tracks],
        }
    }

    fn event(&mut self, e: &TimedEvent) -> Result<(), String> {
        let ch = e.channel;
        match *e.message {
            MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                self.onsets += 1;
                if self.onsets > MAX_NOTES {
                    return Err(format!("too many notes (more than {MAX_NOTES})"));
                }
                let program = self.programs[ch as usize];
                self.open.entry((ch, key.as_int())).or_default().push_back((
                    e.tick,
                    vel.as_int(),
                    program,
                    e.track,
                ));
            }
            MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                self.close_note(ch, key.as_int(), e.tick);
            }
            MidiMessage::ProgramChange { program } => self.programs[ch as usize] = program.as_int(),
            MidiMessage::Controller { controller, value } if controller.as_int() == 64 => {
                self.pedal_event(ch, value.as_int() >= 64, e.tick, e.track)
            }
            MidiMessage::Controller { controller, value } => self.control(
                e,
                ControlKind::Controller {
                    number: controller.as_int(),
                    value: value.as_int(),
                },
            ),
            MidiMessage::PitchBend { bend } => {
                self.control(e, ControlKind::PitchBend(bend.as_int()))
            }
            MidiMessage::Aftertouch { .. } | MidiMessage::ChannelAftertouch { .. } => {}
        }
        Ok(())
    }

    fn close_note(&mut self, ch: u8, pitch: u8, tick: u64) {
        let Some((start, velocity, program, track)) = self
            .open
            .get_mut(&(ch, pitch))
            .and_then(VecDeque::pop_front)
        else {
            return; // a release with nothing sounding: ignore
        };
        if tick > start {
            self.used_tracks[track] = true;
            self.score
                .push_note_ticks(track, ch, program, pitch, velocity, start, tick);
        }
    }

    fn pedal_event(&mut self, ch: u8, down: bool, tick: u64, track: usize) {
        let slot = &mut self.pedal[ch as usize];
        match (*slot, down) {
            (None, true) => *slot = Some((tick, track)),
            (Some((start, track)), false) => {
                *slot = None;
                self.push_span(ch, track, start, tick);
            }
            _ => {}
        }
    }

    fn push_span(&mut self, channel: u8, track: usize, start_tick: u64, end_tick: u64) {
        if end_tick <= start_tick {
            return;
        }
        self.used_tracks[track] = true;
        let map = &self.score.tempo_map;
        self.score.sustain.push(SustainSpan {
            channel,
            track,
            start_tick,
            end_tick,
            start: map.seconds(start_tick),
            end: map.seconds(end_tick),
        });
    }

    fn control(&mut self, e: &TimedEvent, kind: ControlKind) {
        self.used_tracks[e.track] = true;
        let seconds = self.score.tempo_map.seconds(e.tick);
        self.score.controls.push(Control {
            tick: e.tick,
            seconds,
            channel: e.channel,
            track: e.track,
            kind,
        });
    }

    /// Closes what is still open at the end of the file and drops tracks with no channel content.
    fn finish(mut self, file_end: u64, names: Vec<String>) -> Score {
        let mut open: Vec<_> = self.open.keys().copied().collect();
        open.sort_unstable();
        for (ch, pitch) in open {
            while self.open.get(&(ch, pitch)).is_some_and(|q| !q.is_empty()) {
                self.close_note(ch, pitch, file_end);
            }
        }
        for ch in 0..16u8 {
            if let Some((start, track)) = self.pedal[ch as usize].take() {
                self.push_span(ch, track, start, file_end.max(self.score.end_tick()));
            }
        }
        let mut new_index = vec![usize::MAX; names.len()];
        for (old, name) in names.into_iter().enumerate() {
            if self.used_tracks[old] {
                new_index[old] = self.score.tracks.len();
                self.score.tracks.push(Track {
                    role: role_from_name(&name),
                    name,
                });
            }
        }
        let mut score = self.score;
        for n in &mut score.notes {
            n.track = new_index[n.track];
        }
        for s in &mut score.sustain {
            s.track = new_index[s.track];
        }
        for c in &mut score.controls {
            c.track = new_index[c.track];
        }
        for (i, track) in score.tracks.iter_mut().enumerate() {
            let mut notes = score.notes.iter().filter(|n| n.track == i).peekable();
            if notes.peek().is_some() && notes.all(|n| n.channel == DRUM_CHANNEL) {
                track.role = TrackRole::Drums;
            }
        }
        score
    }
}

/// Guesses a track's role from its name: POP909's `MELODY`, `BRIDGE` and `PIANO`, and the chorale voices
/// as the grid names them (`Soprano`, `Alto`, `Tenor`, `Bass voice`; a plain "Bass" is an instrument).
pub fn role_from_name(name: &str) -> TrackRole {
    if name.trim() == "PIANO" {
        return TrackRole::Accompaniment;
    }
    match name.trim().to_ascii_lowercase().as_str() {
        "melody" | "vocal" | "vocals" | "lead vocal" => TrackRole::Melody,
        "bridge" => TrackRole::Bridge,
        "accompaniment" => TrackRole::Accompaniment,
        "soprano" | "soprano voice" => TrackRole::Voice(0),
        "alto" | "alto voice" => TrackRole::Voice(1),
        "tenor" | "tenor voice" => TrackRole::Voice(2),
        "bass voice" => TrackRole::Voice(3),
        _ => TrackRole::Other,
    }
}
