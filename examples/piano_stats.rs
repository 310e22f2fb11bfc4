//! What a piano continuation looks like in numbers, to check it against its primer: notes per second,
//! pitch range, polyphony, velocities, the shortest note, and, read straight from the MIDI events,
//! NOTE_ONs that never get their NOTE_OFF (stuck notes).
//!
//! `cargo run --release --example piano_stats -- FILE.mid [FILE.mid …]`
use std::collections::HashMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "{:<28} {:>6} {:>7} {:>7} {:>9} {:>6} {:>6} {:>6} {:>9} {:>6}",
        "file", "notes", "secs", "notes/s", "pitches", "mean", "poly", "vel", "min ticks", "stuck"
    );
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let stuck = stuck_notes(&bytes)?;
        let score = reprise::midi::read_file(std::path::Path::new(&path))?;
        let notes: Vec<_> = score.notes.iter().filter(|n| !n.is_drum()).collect();
        if notes.is_empty() {
            println!("{path:<28} no pitched notes");
            continue;
        }
        let start = notes.iter().map(|n| n.start).fold(f64::INFINITY, f64::min);
        let end = notes.iter().map(|n| n.end).fold(0.0, f64::max);
        let lo = notes.iter().map(|n| n.pitch).min().unwrap_or(0);
        let hi = notes.iter().map(|n| n.pitch).max().unwrap_or(0);
        let mean = notes.iter().map(|n| n.pitch as f64).sum::<f64>() / notes.len() as f64;
        let vel = notes.iter().map(|n| n.velocity as f64).sum::<f64>() / notes.len() as f64;
        let min_ticks = notes
            .iter()
            .map(|n| n.end_tick.saturating_sub(n.start_tick))
            .min()
            .unwrap_or(0);
        let mut edges: Vec<(f64, i32)> = notes
            .iter()
            .flat_map(|n| [(n.start, 1), (n.end, -1)])
            .collect();
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut now, mut poly) = (0i32, 0i32);
        for (_, d) in edges {
            now += d;
            poly = poly.max(now);
        }
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "{name:<28} {:>6} {:>7.1} {:>7.2} {:>4}–{:<4} {mean:>6.1} {poly:>6} {vel:>6.0} {min_ticks:>9} {stuck:>6}",
            notes.len(),
            end - start,
            notes.len() as f64 / (end - start).max(1e-9),
            lo,
            hi,
        );
    }
    Ok(())
}

/// NOTE_ONs still sounding at the end of their track (per channel and key, counting repeats).
fn stuck_notes(bytes: &[u8]) -> Result<usize, Box<dyn std::error::Error>> {
    use midly::{MidiMessage, Smf, TrackEventKind};
    let smf = Smf::parse(bytes)?;
    let mut stuck = 0;
    for track in &smf.tracks {
        let mut on: HashMap<(u8, u8), usize> = HashMap::new();
        for ev in track {
            if let TrackEventKind::Midi { channel, message } = ev.kind {
                let key = |k: midly::num::u7| (channel.as_int(), k.as_int());
                match message {
                    MidiMessage::NoteOn { key: k, vel } if vel > 0 => {
                        *on.entry(key(k)).or_default() += 1
                    }
                    MidiMessage::NoteOn { key: k, .. } | MidiMessage::NoteOff { key: k, .. } => {
                        if let Some(c) = on.get_mut(&key(k)) {
                            *c = c.saturating_sub(1);
                        }
                    }
                    _ => {}
                }
            }
        }
        stuck += on.values().sum::<usize>();
    }
    Ok(stuck)
}
