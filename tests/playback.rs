//! Live playback on the clocked test output (no sound card needed): a minute of dense MIDI faster than
//! real time with every message on time and in order, no underruns, seeking, streaming with a
//! generator that lags, and silence after stop.

use std::time::{Duration, Instant};

use reprise::audio::playback::{
    Clocked, PlayEvent, PlayOptions, Playback, Player, Push, StreamPlayer,
};
use reprise::audio::soundfont;
use reprise::midi::{Score, TrackRole};

const RATE: u32 = 44_100;
const BUFFER: usize = 2048;

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn drain(tap: &mut rtrb::Consumer<(u64, PlayEvent)>) -> Vec<(u64, PlayEvent)> {
    let mut out = Vec::new();
    while let Ok(x) = tap.pop() {
        out.push(x);
    }
    out
}

#[test]
fn a_dense_minute_plays_on_time_in_order_without_underruns() {
    let score = reprise::bench::dense_score(60.0, 5);
    let sf = soundfont::load(None).unwrap();
    let (tx, mut tap) = rtrb::RingBuffer::new(1 << 16);
    let output = Box::new(Clocked::new(RATE, BUFFER, 8.0));
    let player = Player::start_with_tap(&score, &sf, output, PlayOptions::default(), tx).unwrap();
    assert!(wait_until(Duration::from_secs(30), || player.is_done()));
    let stats = player.stop();
    let applied = drain(&mut tap);
    assert_eq!(stats.late_events, 0, "{stats:?}");
    assert_eq!(stats.underruns, 0, "{stats:?}");
    assert_eq!(applied.len() as u64, stats.delivered);
    // Every note of the score was played: one note-on and one note-off message each.
    let ons = applied.iter().filter(|(_, e)| e.command == 0x90).count();
    let offs = applied.iter().filter(|(_, e)| e.command == 0x80).count();
    assert_eq!(ons, score.notes.len());
    assert_eq!(offs, score.notes.len());
    // In order, each at its own frame (the callback splits buffers at messages: ±0, within ±1 buffer).
    for w in applied.windows(2) {
        assert!(w[0].1.frame <= w[1].1.frame);
    }
    for (at, e) in &applied {
        assert!(at.abs_diff(e.frame) <= BUFFER as u64, "{at} vs {}", e.frame);
        assert_eq!(*at, e.frame);
    }
}

/// One long organ chord on channel 0.
fn chord(seconds: f64) -> Score {
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("organ", TrackRole::Other);
    for p in [48u8, 55, 60, 64, 67] {
        s.push_note_seconds(t, 0, 19, p, 110, 0.0, seconds);
    }
    s
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn stop_silences_every_note() {
    let sf = soundfont::load(None).unwrap();
    let mut clocked = Clocked::new(RATE, 256, 1.0);
    let audio = clocked.keep_audio();
    let player =
        Player::start(&chord(10.0), &sf, Box::new(clocked), PlayOptions::default()).unwrap();
    assert!(wait_until(Duration::from_secs(5), || player.position() > 0.6));
    let stopped_at = player.position();
    let stats = player.stop();
    assert_eq!(stats.late_events, 0);
    let audio = audio.lock().unwrap().clone();
    let frame = |s: f64| (s * RATE as f64) as usize * 2;
    let before = rms(&audio[frame(0.3)..frame(0.5)]);
    assert!(before > 1e-3, "the chord should sound: {before}");
    // After stop (at about {stopped_at} s) a 10 ms fade, then nothing: no voice, no reverb tail.
    let end = audio.len();
    assert!(end >= frame(stopped_at), "{end}");
    assert!(
        audio[end - 512..].iter().all(|&x| x == 0.0),
        "not silent after stop"
    );
    let fade_start = audio[..end - 512]
        .iter()
        .rposition(|&x| x.abs() > before as f32 * 2.0)
        .unwrap_or(0);
    assert!(
        end - 512 - fade_start < frame(0.05),
        "the fade should be short"
    );
}

#[test]
fn seek_and_pause_move_the_playhead() {
    let score = reprise::bench::dense_score(20.0, 2);
    let sf = soundfont::load(None).unwrap();
    let player = Player::start(
        &score,
        &sf,
        Box::new(Clocked::new(RATE, BUFFER, 4.0)),
        PlayOptions::default(),
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || player.position() > 1.0));
    player.seek(15.0);
    assert!(wait_until(Duration::from_secs(5), || player.position() >= 15.0));
    player.toggle_pause();
    std::thread::sleep(Duration::from_millis(100));
    let paused_at = player.position();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        player.position(),
        paused_at,
        "the playhead moved while paused"
    );
    player.toggle_pause();
    assert!(wait_until(Duration::from_secs(10), || player.is_done()));
    let stats = player.stop();
    assert_eq!(stats.late_events, 0, "{stats:?}");
}

#[test]
fn streaming_waits_for_the_generator_and_ends_after_complete() {
    let sf = soundfont::load(None).unwrap();
    let empty = Score::new(480, 500_000).unwrap();
    let opts = PlayOptions {
        streaming: true,
        hold_seconds: 0.0,
        ..Default::default()
    };
    let (tx, mut tap) = rtrb::RingBuffer::new(4096);
    let player = Player::start_with_tap(
        &empty,
        &sf,
        Box::new(Clocked::new(RATE, 512, 8.0)),
        opts,
        tx,
    )
    .unwrap();
    // A "generator" that produces one second of music per 50 ms at first, then lags behind.
    for second in 0..6 {
        let mut part = Score::new(480, 500_000).unwrap();
        let t = part.add_track("p", TrackRole::Other);
        for k in 0..4 {
            let start = second as f64 + k as f64 * 0.25;
            part.push_note_seconds(t, 0, 0, 60 + k as u8, 90, start, start + 0.2);
        }
        player.append(&part, second as f64 + 1.0);
        std::thread::sleep(Duration::from_millis(if second < 3 { 50 } else { 400 }));
        assert!(player.position() <= second as f64 + 1.0 + 1e-9);
        assert!(!player.is_done());
    }
    player.complete();
    assert!(wait_until(Duration::from_secs(10), || player.is_done()));
    let stats = player.stop();
    assert_eq!(stats.late_events, 0, "{stats:?}");
    assert!(
        stats.stalls > 0,
        "the lagging generator should have made the playhead wait"
    );
    let ons = drain(&mut tap)
        .iter()
        .filter(|(_, e)| e.command == 0x90)
        .count();
    assert_eq!(ons, 24);
}

/// A producer pushing `seconds` of a tone in 0.1 s pieces, sleeping `pause` between pieces.
fn tone_producer(
    seconds: f64,
    pause: Duration,
) -> impl FnOnce(u32, Push) -> reprise::Result<()> + Send + 'static {
    move |rate, push| {
        let piece: Vec<f32> = (0..rate as usize / 10)
            .map(|i| (i as f32 * 0.05).sin() * 0.3)
            .collect();
        for _ in 0..(seconds * 10.0) as usize {
            if !push(&piece) {
                return Ok(());
            }
            std::thread::sleep(pause);
        }
        Ok(())
    }
}

#[test]
fn streamed_audio_plays_to_the_end_and_counts_a_lagging_producer() {
    let mut clocked = Clocked::new(RATE, 1024, 8.0);
    let audio = clocked.keep_audio();
    let player =
        StreamPlayer::start(Box::new(clocked), 0.5, tone_producer(3.0, Duration::ZERO)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || player.is_done()));
    assert!(
        (player.position() - 3.0).abs() < 0.01,
        "{}",
        player.position()
    );
    let stats = player.stop().unwrap();
    assert_eq!(stats.underruns, 0, "{stats:?}");
    let audio = audio.lock().unwrap().clone();
    assert!(audio.iter().any(|v| v.abs() > 0.2));
    // A producer slower than the output (0.1 s of audio per 0.05 s of wall time at 8×) underruns,
    // and the player still reaches the end.
    let slow = StreamPlayer::start(
        Box::new(Clocked::new(RATE, 1024, 8.0)),
        0.1,
        tone_producer(1.0, Duration::from_millis(50)),
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(10), || slow.is_done()));
    assert!(slow.stop().unwrap().underruns > 0);
}
