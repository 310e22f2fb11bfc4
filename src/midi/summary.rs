//! Human-readable summaries of scores (`reprise info`).

use std::path::Path;

use super::gm;
use super::score::{Note, Score, Track, TrackRole, DRUM_CHANNEL};

/// A human-readable summary of a score.
pub fn describe(path: &Path, score: &Score) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let secs = score.duration();
    let _ = writeln!(
        out,
        "{}: {} notes in {} track{}, {}:{:04.1}, {} ticks/quarter",
        path.display(),
        score.notes.len(),
        score.tracks.len(),
        if score.tracks.len() == 1 { "" } else { "s" },
        (secs / 60.0).floor(),
        secs % 60.0,
        score.ppq()
    );
    let bpms: Vec<f64> = score
        .tempo_map
        .changes()
        .iter()
        .map(|c| 60e6 / c.us_per_quarter as f64)
        .collect();
    let (lo, hi) = bpms
        .iter()
        .fold((f64::MAX, 0f64), |(l, h), &b| (l.min(b), h.max(b)));
    let _ = if bpms.len() == 1 {
        writeln!(out, "  tempo {:.1} BPM", bpms[0])
    } else {
        writeln!(
            out,
            "  tempo {:.1} BPM at start, {lo:.1}–{hi:.1} BPM over {} changes",
            bpms[0],
            bpms.len() - 1
        )
    };
    if let Some(ts) = score.time_signatures.first() {
        let more = score.time_signatures.len() - 1;
        let more = if more > 0 {
            format!(" (+{more} changes)")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  time signature {}/{}{more}",
            ts.numerator, ts.denominator
        );
    }
    if !score.sustain.is_empty() {
        let _ = writeln!(out, "  sustain pedal: {} spans", score.sustain.len());
    }
    for (i, track) in score.tracks.iter().enumerate() {
        let _ = writeln!(out, "  {}", describe_track(score, i, track));
    }
    out
}

fn describe_track(score: &Score, index: usize, track: &Track) -> String {
    let notes: Vec<&Note> = score.track_notes(index).collect();
    let name = if track.name.is_empty() {
        "(unnamed)".to_string()
    } else {
        format!("\"{}\"", track.name)
    };
    let role = match track.role {
        TrackRole::Other => String::new(),
        TrackRole::Voice(v) => format!(
            " [{}]",
            ["soprano", "alto", "tenor", "bass"]
                .get(v as usize)
                .unwrap_or(&"voice")
        ),
        r => format!(" [{}]", format!("{r:?}").to_lowercase()),
    };
    let mut programs: Vec<(u8, u8)> = notes.iter().map(|n| (n.channel, n.program)).collect();
    programs.sort_unstable();
    programs.dedup();
    let programs: Vec<String> = programs
        .iter()
        .map(|&(ch, p)| {
            let drums = ch == DRUM_CHANNEL;
            format!("ch {} {} ({p})", ch + 1, gm::program_name(p, drums))
        })
        .collect();
    let range = match (
        notes.iter().map(|n| n.pitch).min(),
        notes.iter().map(|n| n.pitch).max(),
    ) {
        (Some(lo), Some(hi)) => format!(", pitches {lo}–{hi}"),
        _ => String::new(),
    };
    format!(
        "track {index} {name}{role}: {} notes{range}; {}",
        notes.len(),
        programs.join(", ")
    )
}
