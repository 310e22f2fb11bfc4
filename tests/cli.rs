//! The `reprise` binary end to end: good files work, bad input gets one line on stderr, exit code 2,
//! no panic and no output file left behind.

use std::path::{Path, PathBuf};

mod common;
use common::{assert_bad_input, reprise, sample};

/// A Standard MIDI File from a header (format, track count, division) and raw track chunks.
fn smf(format: u16, tracks: u16, division: u16, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"MThd".to_vec();
    out.extend(6u32.to_be_bytes());
    out.extend(format.to_be_bytes());
    out.extend(tracks.to_be_bytes());
    out.extend(division.to_be_bytes());
    for c in chunks {
        out.extend(c);
    }
    out
}

/// An MTrk chunk around `events` (delta-timed raw bytes), with End of Track appended.
fn mtrk(events: &[u8]) -> Vec<u8> {
    let mut body = events.to_vec();
    body.extend([0x00, 0xFF, 0x2F, 0x00]);
    let mut out = b"MTrk".to_vec();
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

/// One note: middle C for a quarter note at 96 PPQ, then a second one via running status.
const NOTES: [u8; 14] = [
    0x00, 0x90, 60, 100, // note on
    0x60, 60, 0, // running status: note on vel 0 = off
    0x00, 62, 90, // running status: note on
    0x60, 0x80, 62, 0, // note off
];

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The files in the fixture directory.
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

#[test]
fn info_reads_every_sample() {
    for name in [
        "bach-chorale.mid",
        "piano-phrase.mid",
        "melody-ode-to-joy.mid",
        "gm-band.mid",
    ] {
        let out = reprise(&["info", &sample(name)]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("notes in") && text.contains("BPM"), "{text}");
    }
    let out = reprise(&["info", &sample("bach-chorale.mid")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("104 notes in 4 tracks, 0:19.2"), "{text}");
    assert!(text.contains("\"Soprano\" [soprano]"), "{text}");
}

#[test]
fn render_writes_a_wav_of_the_right_length_with_no_flags() {
    let f = Fixture::new();
    let wav = f.path("chorale.wav");
    let out = reprise(&[
        "render",
        &sample("bach-chorale.mid"),
        "-o",
        wav.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 44_100, 16)
    );
    let seconds = reader.duration() as f64 / 44_100.0;
    // 19.2 s of music plus a release tail of at most a few seconds.
    assert!((19.2..25.0).contains(&seconds), "{seconds} s");
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 1000, "peak {peak}");
    // The last second of music is not silent, the tail fades out.
    let at = |t: f64| ((t * 44_100.0) as usize) * 2;
    let last_second = &samples[at(18.0)..at(19.0)];
    assert!(last_second.iter().any(|s| s.unsigned_abs() > 300));
    assert_eq!(f.listing(), ["chorale.wav"]);
}

#[test]
fn render_options_are_applied() {
    let f = Fixture::new();
    let wav = f.path("quiet.wav");
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "-o",
        wav.to_str().unwrap(),
        "--sample-rate",
        "22050",
        "--gain",
        "0.5",
        "--quiet",
    ]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        hound::WavReader::open(&wav).unwrap().spec().sample_rate,
        22_050
    );
}

#[test]
fn running_status_and_smpte_timing_are_read() {
    let f = Fixture::new();
    let ppq = f.file("ppq.mid", &smf(0, 1, 96, &[mtrk(&NOTES)]));
    let out = reprise(&["info", &ppq]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 notes in 1 track, 0:01.0"), "{text}");
    // SMPTE: 25 fps × 40 subframes = 1000 ticks per second; 0x60 = 96 ticks per note.
    let division = u16::from_be_bytes([(-25i8) as u8, 40]);
    let smpte = f.file("smpte.mid", &smf(0, 1, division, &[mtrk(&NOTES)]));
    let out = reprise(&["info", &smpte]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("2 notes in 1 track, 0:00.2"), "{text}");
}

#[test]
fn missing_file() {
    let out = reprise(&["info", "/no/such/file.mid"]);
    assert_bad_input(&out, "/no/such/file.mid", "No such file");
    let out = reprise(&["render", "/no/such/file.mid", "-o", "/tmp/never.wav"]);
    assert_bad_input(&out, "/no/such/file.mid", "No such file");
    assert!(!Path::new("/tmp/never.wav").exists());
}

#[test]
fn not_a_midi_file() {
    let f = Fixture::new();
    for (name, bytes) in [
        ("text.mid", &b"hello, this is not MIDI at all"[..]),
        ("empty.mid", b""),
    ] {
        let p = f.file(name, bytes);
        assert_bad_input(&reprise(&["info", &p]), name, "not a Standard MIDI File");
    }
    let dir = f.dir.path().to_string_lossy().into_owned();
    assert_bad_input(&reprise(&["info", &dir]), &dir, "is a directory");
}

#[test]
fn truncated_track() {
    let f = Fixture::new();
    // The last event stops after its status and key: its velocity byte is missing.
    let body = [0x00, 0x90, 60, 100, 0x60, 0x80, 60];
    let mut chunk = b"MTrk".to_vec();
    chunk.extend((body.len() as u32).to_be_bytes());
    chunk.extend(body);
    let p = f.file("cut.mid", &smf(0, 1, 96, &[chunk]));
    assert_bad_input(&reprise(&["info", &p]), "cut.mid", "malformed");
}

#[test]
fn chunk_length_past_the_end() {
    let f = Fixture::new();
    let mut chunk = mtrk(&NOTES);
    chunk[4..8].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    let p = f.file("long.mid", &smf(1, 1, 96, &[chunk]));
    assert_bad_input(&reprise(&["info", &p]), "long.mid", "truncated file");
    // A file cut in the middle of its only track.
    let whole = smf(0, 1, 96, &[mtrk(&NOTES)]);
    let p = f.file("half.mid", &whole[..whole.len() - 6]);
    assert_bad_input(&reprise(&["info", &p]), "half.mid", "truncated file");
}

#[test]
fn zero_division() {
    let f = Fixture::new();
    let p = f.file("zero.mid", &smf(0, 1, 0, &[mtrk(&NOTES)]));
    assert_bad_input(&reprise(&["info", &p]), "zero.mid", "0 ticks per quarter");
    let smpte_zero = u16::from_be_bytes([(-25i8) as u8, 0]);
    let p = f.file("smpte0.mid", &smf(0, 1, smpte_zero, &[mtrk(&NOTES)]));
    assert_bad_input(&reprise(&["info", &p]), "smpte0.mid", "SMPTE division");
}

#[test]
fn absurd_tempo() {
    let f = Fixture::new();
    for (name, us) in [("t0.mid", 0u32), ("t1.mid", 1)] {
        let mut events = vec![0x00, 0xFF, 0x51, 0x03];
        events.extend(&us.to_be_bytes()[1..]);
        events.extend(NOTES);
        let p = f.file(name, &smf(0, 1, 96, &[mtrk(&events)]));
        assert_bad_input(&reprise(&["info", &p]), name, "absurd tempo");
    }
}

#[test]
fn absurd_length() {
    let f = Fixture::new();
    // Deltas of 2^28−1 ticks at 1 PPQ and the slowest tempo: thousands of hours.
    let mut events = vec![
        0x00, 0xFF, 0x51, 0x03, 0xFF, 0xFF, 0xFF, 0x00, 0x90, 60, 100,
    ];
    events.extend([0xFF, 0xFF, 0xFF, 0x7F, 0x80, 60, 0]);
    let p = f.file("forever.mid", &smf(0, 1, 1, &[mtrk(&events)]));
    assert_bad_input(&reprise(&["info", &p]), "forever.mid", "absurd length");
}

#[test]
fn format_2_is_refused() {
    let f = Fixture::new();
    let p = f.file("seq.mid", &smf(2, 1, 96, &[mtrk(&NOTES)]));
    assert_bad_input(&reprise(&["info", &p]), "seq.mid", "format 2");
}

#[test]
fn a_million_notes() {
    let f = Fixture::new();
    let mut events = Vec::with_capacity(7_000_010);
    events.extend([0x00, 0x90, 60, 100, 0x01, 60, 0]);
    for _ in 1..1_000_000 {
        events.extend([0x00, 60, 100, 0x01, 60, 0]);
    }
    let p = f.file("million.mid", &smf(0, 1, 96, &[mtrk(&events)]));
    let wav = f.path("million.wav");
    let out = reprise(&["render", &p, "-o", wav.to_str().unwrap()]);
    assert_bad_input(&out, "million.mid", "too many notes");
    assert_eq!(f.listing(), ["million.mid"]);
}

#[test]
fn unwritable_output_leaves_nothing() {
    let f = Fixture::new();
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "-o",
        "/no/such/dir/out.wav",
    ]);
    assert_bad_input(&out, "/no/such/dir/out.wav", "No such file");
    let dir = f.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_bad_input(&out, "a-directory", "directory");
    assert_eq!(f.listing(), ["a-directory"]);
}

#[test]
fn render_refuses_sf3_and_non_soundfonts() {
    let f = Fixture::new();
    let wav = f.path("x.wav");
    let mut sf3 = b"RIFF\0\0\0\0sfbkLIST\0\0\0\0INFOifil\x04\0\0\0".to_vec();
    sf3.extend([3, 0, 1, 0]);
    let sf3 = f.file("bank.sf3", &sf3);
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "-o",
        wav.to_str().unwrap(),
        "--soundfont",
        &sf3,
    ]);
    assert_bad_input(&out, "bank.sf3", "SF3");
    let junk = f.file("junk.sf2", b"not a soundfont");
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "-o",
        wav.to_str().unwrap(),
        "--soundfont",
        &junk,
    ]);
    assert_bad_input(&out, "junk.sf2", "not a SoundFont");
    assert_eq!(f.listing(), ["bank.sf3", "junk.sf2"]);
}

#[test]
fn render_refuses_a_file_without_notes_and_bad_settings() {
    let f = Fixture::new();
    let p = f.file("empty-track.mid", &smf(0, 1, 96, &[mtrk(&[])]));
    let wav = f.path("x.wav");
    let out = reprise(&["render", &p, "-o", wav.to_str().unwrap()]);
    assert_bad_input(&out, "empty-track.mid", "no notes");
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "-o",
        wav.to_str().unwrap(),
        "--sample-rate",
        "1000",
    ]);
    assert_bad_input(&out, "", "sample rate 1000");
    assert!(!wav.exists());
}

#[test]
fn info_on_many_files_reports_each_failure_and_continues() {
    let f = Fixture::new();
    let bad = f.file("bad.mid", b"nope");
    let out = reprise(&["info", &sample("gm-band.mid"), &bad]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.mid: not a Standard MIDI File"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 2 files read"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("gm-band.mid: 288 notes"));
}

#[test]
fn every_subcommand_has_help() {
    for cmd in [vec!["render"], vec!["info"], vec!["bench", "render"]] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = reprise(&args);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: reprise"));
    }
}

#[test]
fn play_without_a_sound_card_says_so_in_one_line() {
    let out = reprise(&["play", &sample("piano-phrase.mid"), "--from", "11"]);
    if out.status.success() {
        return; // this machine has audio: nothing to check here
    }
    assert_bad_input(
        &out,
        "",
        "no audio output device; use `reprise render` to write a WAV",
    );
    let named = reprise(&[
        "play",
        &sample("piano-phrase.mid"),
        "--device",
        "no-such-device-here",
    ]);
    assert_bad_input(
        &named,
        "no-such-device-here",
        "no audio output device named",
    );
}

#[test]
fn play_on_the_null_device_runs_to_the_end() {
    // The last second of the phrase, on the silent real-time clock.
    let out = reprise(&[
        "play",
        &sample("piano-phrase.mid"),
        "--device",
        "null",
        "--from",
        "10.5",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 late, 0 underruns"), "{stderr}");
    assert!(!stderr.contains("ALSA"), "{stderr}");
}

/// A melody in 4/4: `pattern` bars of (pitch, start 16th, length 16ths), one after another.
fn melody_file(dir: &Path, name: &str, bars: &[Vec<(u8, u64, u64)>]) -> PathBuf {
    let mut s = reprise::midi::Score::new(480, 500_000).unwrap();
    let t = s.add_track("MELODY", reprise::midi::TrackRole::Melody);
    for (b, notes) in bars.iter().enumerate() {
        for &(p, at, len) in notes {
            let start = b as u64 * 1920 + at * 120;
            s.push_note_ticks(t, 0, 0, p, 90, start, start + len * 120);
        }
    }
    s.sort();
    let path = dir.join(name);
    reprise::midi::write_file(&s, &path).unwrap();
    path
}

#[test]
fn theme_extract_finds_the_recurring_phrase_or_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let a1 = vec![(60, 0, 4), (62, 4, 4), (64, 8, 4), (67, 12, 4)];
    let a2 = vec![(65, 0, 6), (64, 6, 2), (62, 8, 8)];
    let b1 = vec![(70, 0, 2), (69, 2, 2), (67, 4, 4), (65, 8, 4), (64, 12, 4)];
    let b2 = vec![(72, 0, 4), (71, 4, 4), (69, 8, 8)];
    let up = |bar: &Vec<(u8, u64, u64)>| {
        bar.iter()
            .map(|&(p, a, l)| (p + 3, a, l))
            .collect::<Vec<_>>()
    };
    let bars = vec![
        b1.clone(),
        b2.clone(),
        a1.clone(),
        a2.clone(),
        b2.clone(),
        b1.clone(),
        a1.clone(),
        a2.clone(),
        up(&a1),
        up(&a2),
        b1.clone(),
        b2.clone(),
    ];
    let song = melody_file(dir.path(), "song.mid", &bars);
    let theme = dir.path().join("theme.mid");
    let out = reprise(&[
        "theme",
        "extract",
        song.to_str().unwrap(),
        "-o",
        theme.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("theme: bars 3–4, found 3 times; theme regions: bars 3–4, 7–10"),
        "{stdout}"
    );
    let t = reprise::midi::read_file(&theme).unwrap();
    assert_eq!(t.notes.len(), a1.len() + a2.len());
    assert_eq!(t.notes[0].pitch, 60);
    // Nothing recurs: no theme, and no file.
    let plain = melody_file(dir.path(), "plain.mid", &[a1, a2, b1, b2]);
    let none = dir.path().join("none.mid");
    let out = reprise(&[
        "theme",
        "extract",
        plain.to_str().unwrap(),
        "-o",
        none.to_str().unwrap(),
    ]);
    assert_bad_input(&out, "plain.mid", "no theme found");
    assert!(!none.exists());
}

/// `n` as a MIDI variable-length quantity.
fn vlq(mut n: u32) -> Vec<u8> {
    let mut out = vec![(n & 0x7F) as u8];
    n >>= 7;
    while n > 0 {
        out.insert(0, (n & 0x7F) as u8 | 0x80);
        n >>= 7;
    }
    out
}

#[test]
fn devices_fifos_and_unbounded_inputs_are_refused_at_once() {
    let f = Fixture::new();
    let fifo = f.path("pipe.mid");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Neither blocks on the FIFO nor reads /dev/zero without end.
    for input in ["/dev/zero", fifo.to_str().unwrap()] {
        assert_bad_input(&reprise(&["info", input]), input, "not a regular file");
        let wav = f.path("out.wav");
        let out = reprise(&["render", input, "-o", wav.to_str().unwrap()]);
        assert_bad_input(&out, input, "not a regular file");
    }
    let out = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "--soundfont",
        "/dev/zero",
        "-o",
        f.path("x.wav").to_str().unwrap(),
    ]);
    assert_bad_input(&out, "/dev/zero", "not a regular file");
    assert_eq!(f.listing(), ["pipe.mid"]);
}

#[test]
fn outputs_replace_only_regular_files_and_never_an_input() {
    let f = Fixture::new();
    let song = f.file("song.mid", &smf(0, 1, 96, &[mtrk(&NOTES)]));
    let before = std::fs::read(&song).unwrap();
    // The input itself, and through a symlink.
    std::os::unix::fs::symlink(&song, f.path("alias.wav")).unwrap();
    for out in [
        song.clone(),
        f.path("alias.wav").to_string_lossy().into_owned(),
    ] {
        let o = reprise(&["render", "-q", &song, "-o", &out]);
        assert_bad_input(&o, &out, "is also the input");
    }
    assert_eq!(std::fs::read(&song).unwrap(), before);
    // Devices and FIFOs are refused, and stay what they were.
    let fifo = f.path("fifo.wav");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for out in ["/dev/null", "/dev/full", fifo.to_str().unwrap()] {
        let o = reprise(&["render", "-q", &song, "-o", out]);
        assert_bad_input(&o, out, "not a regular file");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // A symlink to a regular file is written through; a user's NAME.tmp is left alone.
    std::fs::write(f.path("real.wav"), b"old").unwrap();
    std::os::unix::fs::symlink("real.wav", f.path("link.wav")).unwrap();
    std::fs::write(f.path("link.wav.tmp"), b"mine").unwrap();
    let link = f.path("link.wav");
    let o = reprise(&["render", "-q", &song, "-o", link.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(&std::fs::read(f.path("real.wav")).unwrap()[..4], b"RIFF");
    assert_eq!(std::fs::read(f.path("link.wav.tmp")).unwrap(), b"mine");
    assert_eq!(
        f.listing(),
        [
            "alias.wav",
            "fifo.wav",
            "link.wav",
            "link.wav.tmp",
            "real.wav",
            "song.mid"
        ]
    );
}

#[test]
fn a_23_hour_midi_is_refused_before_rendering() {
    let f = Fixture::new();
    // 42 bytes: a note, then another 23 hours later (120 BPM, 96 PPQ).
    let mut events = vec![0x00, 0x90, 60, 100, 0x60, 60, 0];
    events.extend(vlq(23 * 3600 * 2 * 96));
    events.extend([62, 100, 0x60, 62, 0]);
    let p = f.file("long.mid", &smf(0, 1, 96, &[mtrk(&events)]));
    let wav = f.path("long.wav");
    let out = reprise(&["render", "-q", &p, "-o", wav.to_str().unwrap()]);
    assert_bad_input(&out, "23.0 h", "at most 4 GiB");
    let wav = wav.to_str().unwrap();
    let out = reprise(&["render", "-q", "--engine", "neural", &p, "-o", wav]);
    assert_bad_input(&out, "long.mid", "at most 60 min");
    assert_eq!(f.listing(), ["long.mid"]);
}

#[test]
fn padding_after_the_last_chunk_is_accepted_with_a_warning() {
    let f = Fixture::new();
    let clean = smf(0, 1, 96, &[mtrk(&NOTES)]);
    let plain = reprise(&["info", &f.file("clean.mid", &clean)]);
    assert_eq!(plain.status.code(), Some(0));
    for pad in 1..=7 {
        let mut bytes = clean.clone();
        bytes.extend(std::iter::repeat_n(0u8, pad));
        let p = f.file("padded.mid", &bytes);
        let out = reprise(&["info", &p]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.starts_with("warning: ") && stderr.contains(&format!("{pad} stray bytes")),
            "{stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout).replace("padded.mid", "clean.mid");
        assert_eq!(stdout, String::from_utf8_lossy(&plain.stdout));
    }
    // Eight bytes are a chunk header and must fit.
    let mut bytes = clean.clone();
    bytes.extend(b"MTrk\0\0\0\x09");
    assert_bad_input(
        &reprise(&["info", &f.file("more.mid", &bytes)]),
        "more.mid",
        "truncated",
    );
}

#[test]
fn out_of_range_numbers_are_refused_in_one_line() {
    let f = Fixture::new();
    let out = f.path("o.mid");
    let out = out.to_str().unwrap();
    let bach = sample("bach-chorale.mid");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["generate", "--steps", "0", "-o", out], "--steps 0"),
        (
            vec!["generate", "--steps", "100000000", "-o", out],
            "--steps 100000000",
        ),
        (
            vec!["continue", &bach, "--key-guide", "nan", "-o", out],
            "--key-guide NaN",
        ),
        (
            vec!["theme", "report", &bach, &bach, "--threshold", "nan"],
            "--threshold NaN",
        ),
    ];
    let train = |minutes: &'static str| {
        let config = "configs/jsb-chorales.json";
        vec![
            "train", "--config", config, "--data", "x", "--out", out, minutes,
        ]
    };
    let cases = cases.into_iter().chain([
        (train("--max-minutes=nan"), "--max-minutes NaN"),
        (train("--max-minutes=-1"), "--max-minutes -1"),
    ]);
    for (args, msg) in cases {
        let o = reprise(&args);
        assert_bad_input(&o, msg, "must be");
    }
    assert!(!Path::new(out).exists());
}

#[test]
fn chord_files_with_impossible_times_are_refused() {
    let f = Fixture::new();
    let melody = sample("piano-phrase.mid");
    for (name, text) in [
        ("nan.txt", "nan 2.0 C:maj\n"),
        ("neg.txt", "-1.0 2.0 C:maj\n"),
        ("back.txt", "3.0 2.0 C:maj\n"),
    ] {
        let chords = f.file(name, text.as_bytes());
        let out = f.path("acc.mid");
        let o = reprise(&[
            "accompany",
            &melody,
            "--chords",
            &chords,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_bad_input(&o, name, "line 1: times must be");
    }
}

#[test]
fn models_completions_and_man_pages_come_from_the_same_definitions() {
    let out = reprise(&["models"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for (name, arch) in [
        ("jsb-chorales", "Music Transformer (chorale grid)"),
        ("pop909-theme", "Theme Transformer (themes)"),
        ("gla-synth", "GLA neural synth"),
    ] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or("");
        assert!(line.contains(arch), "{text}");
    }
    let out = reprise(&["completions", "bash"]);
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && script.contains("complete -F"),
        "{script}"
    );
    assert!(script.contains("--key-guide") && script.contains("compose"));
    let f = Fixture::new();
    let dir = f.path("man");
    let out = reprise(&["man", "-o", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.join("reprise-continue.1")).unwrap();
    assert!(page.contains(".TH") && page.contains("primer"), "{page}");
    assert!(dir.join("reprise.1").is_file() && dir.join("reprise-theme.1").is_file());
}

#[test]
fn a_model_asked_for_what_it_cannot_do_says_what_it_is() {
    let f = Fixture::new();
    let out = f.path("o.mid");
    let o = reprise(&[
        "continue",
        &sample("piano-phrase.mid"),
        "--model",
        "pop909-theme",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_bad_input(
        &o,
        "pop909-theme",
        "Theme Transformer (themes): it cannot continue music",
    );
    let not_a_model = f.path("empty-dir");
    std::fs::create_dir(&not_a_model).unwrap();
    std::fs::write(
        not_a_model.join("config.json"),
        "{\"architecture\": \"wavenet\"}",
    )
    .unwrap();
    let o = reprise(&[
        "continue",
        &sample("piano-phrase.mid"),
        "--model",
        not_a_model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "config.json", "names no architecture Reprise knows");
    assert!(!out.exists());
}

#[test]
fn continue_at_a_point_leaves_out_what_came_after_it() {
    let f = Fixture::new();
    let out = f.path("at.mid");
    let o = reprise(&[
        "continue",
        &sample("piano-phrase.mid"),
        "--at",
        "4",
        "--seconds",
        "2",
        "--seed",
        "1",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let primer = reprise::midi::read_file(Path::new(&sample("piano-phrase.mid"))).unwrap();
    let s = reprise::midi::read_file(&out).unwrap();
    let new_track = s.tracks.len() - 1;
    let kept: Vec<_> = s.notes.iter().filter(|n| n.track != new_track).collect();
    assert!(kept.iter().all(|n| n.start < 4.0 && n.end <= 4.0 + 1e-3));
    assert_eq!(
        kept.len(),
        primer.notes.iter().filter(|n| n.start < 4.0).count()
    );
    assert!(s
        .notes
        .iter()
        .any(|n| n.track == new_track && n.start >= 3.0));
}

/// `play` takes audio files too (issue 24): a render plays to its end on the null device from part
/// way in; what is not audio, a start past the end and engine flags are refused in one line.
#[test]
fn play_plays_an_audio_file_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("take.wav");
    let render = reprise(&[
        "render",
        &sample("melody-ode-to-joy.mid"),
        "-o",
        wav.to_str().unwrap(),
        "--sample-rate",
        "22050",
    ]);
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let w = wav.to_str().unwrap();
    let out = reprise(&["play", w, "--device", "null", "--from", "17"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("played 0:"), "{stderr}");
    let late = reprise(&["play", w, "--device", "null", "--from", "99"]);
    assert_bad_input(&late, "take.wav", "cannot start 99 s in");
    let neural = reprise(&["play", w, "--device", "null", "--engine", "neural"]);
    assert_bad_input(&neural, "", "plays as it is");
    let junk = dir.path().join("junk.mp3");
    std::fs::write(&junk, b"ID3 not really").unwrap();
    let bad = reprise(&["play", junk.to_str().unwrap(), "--device", "null"]);
    assert_bad_input(&bad, "junk.mp3", "not a playable audio file");
}
