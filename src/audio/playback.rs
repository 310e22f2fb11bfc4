//! Live playback. A scheduler thread turns a score into timed MIDI messages and pushes them, a little
//! ahead of the playhead, through a lock-free ring (`rtrb`) to the audio callback, where the SoundFont
//! synthesizer runs. The callback never allocates, locks, blocks or does I/O: it reads atomics, pops the
//! ring and renders into buffers made before playback started.
//!
//! Seeking and stopping bump a *generation* number: the callback silences every voice, drops queued
//! messages of older generations and jumps to the new position. Music that is still being generated is
//! appended while playing; the playhead waits at the end of what exists (a *stall*) rather than run
//! into silence that will later be filled.
//!
//! Output goes to a device (`audio::device`) or to the [`Clocked`] backend, a clock that calls the
//! callback like a sound card would (as fast as wanted), for tests and for machines without audio.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::render::{synth_events, SynthEvent};
use crate::error::{Error, Result};
use crate::midi::Score;

/// How far ahead of the playhead the scheduler queues messages.
const LOOKAHEAD_SECONDS: f64 = 1.0;
/// Capacity of the message ring (messages).
const RING: usize = 16_384;
/// Largest block the callback renders at once; longer device buffers are done in several blocks.
pub(crate) const SCRATCH_FRAMES: usize = 2048;
/// Silence left after the last message before playback counts as finished.
const TAIL_SECONDS: f64 = 1.5;
/// Length of the fade to silence when playback stops.
const STOP_FADE_SECONDS: f32 = 0.01;
/// How often the scheduler looks at the playhead.
const SCHEDULER_TICK: Duration = Duration::from_millis(2);

/// A MIDI message at a frame of the music, tagged with the generation it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayEvent {
    /// Frame (sample position) of the music.
    pub frame: u64,
    /// Seek/stop generation.
    pub generation: u32,
    /// MIDI channel 0–15.
    pub channel: u8,
    /// Status nibble: 0x80 note off, 0x90 note on, 0xB0 control, 0xC0 program, 0xE0 pitch bend.
    pub command: u8,
    /// First data byte.
    pub data1: u8,
    /// Second data byte.
    pub data2: u8,
}

/// State shared by the controller, the scheduler and the audio callback: atomics only.
#[derive(Debug)]
pub struct Transport {
    sample_rate: u32,
    playhead: AtomicU64,
    paused: AtomicBool,
    generation: AtomicU32,
    seek_frame: AtomicU64,
    hold_frame: AtomicU64,
    end_frame: AtomicU64,
    done: AtomicBool,
    stopping: AtomicBool,
    silent: AtomicBool,
    late_events: AtomicU64,
    underruns: AtomicU64,
    stalls: AtomicU64,
    delivered: AtomicU64,
}

impl Transport {
    pub(crate) fn new(sample_rate: u32, start_frame: u64) -> Self {
        Transport {
            sample_rate,
            playhead: AtomicU64::new(start_frame),
            paused: AtomicBool::new(false),
            generation: AtomicU32::new(0),
            seek_frame: AtomicU64::new(start_frame),
            hold_frame: AtomicU64::new(u64::MAX),
            end_frame: AtomicU64::new(u64::MAX),
            done: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            silent: AtomicBool::new(false),
            late_events: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        }
    }

    /// The playhead in seconds of music.
    pub fn position(&self) -> f64 {
        self.playhead.load(Ordering::Acquire) as f64 / self.sample_rate as f64
    }

    /// Moves the playhead on by `frames` (outputs that play as they are told, without a score).
    pub(crate) fn advance(&self, frames: u64) {
        self.playhead.fetch_add(frames, Ordering::AcqRel);
    }

    /// Underruns counted so far.
    pub fn underruns(&self) -> u64 {
        self.underruns.load(Ordering::Relaxed)
    }

    /// Counts an underrun reported by the output.
    pub fn count_underrun(&self) {
        self.underruns.fetch_add(1, Ordering::Relaxed);
    }

    /// True once the playhead has passed the end (and the end is known).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// What a playback did, for the user and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaybackStats {
    /// Messages applied by the callback.
    pub delivered: u64,
    /// Messages applied after their time had passed.
    pub late_events: u64,
    /// Buffers the output could not fill in time.
    pub underruns: u64,
    /// Callbacks that waited for music still being generated.
    pub stalls: u64,
}

/// The audio-callback side: the synthesizer, the ring's consumer and preallocated buffers.
pub struct Renderer {
    synth: Synthesizer,
    rx: rtrb::Consumer<PlayEvent>,
    pending: Option<PlayEvent>,
    transport: Arc<Transport>,
    generation: u32,
    left: Vec<f32>,
    right: Vec<f32>,
    gain: f32,
    /// Gain of the stop fade, 1 until stopping.
    fade: f32,
    tap: Option<rtrb::Producer<(u64, PlayEvent)>>,
}

impl Renderer {
    /// Fills an interleaved buffer of `channels` channels. Real-time safe: no allocation, lock or I/O.
    pub fn fill(&mut self, out: &mut [f32], channels: usize) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        if self.transport.stopping.load(Ordering::Acquire) {
            self.fade_out(out, channels);
            return;
        }
        self.follow_generation();
        let t = &self.transport;
        let playhead = t.playhead.load(Ordering::Acquire);
        let hold = t.hold_frame.load(Ordering::Acquire);
        let end = t.end_frame.load(Ordering::Acquire);
        let renderable = if t.paused.load(Ordering::Acquire) {
            0
        } else {
            (hold.min(end.saturating_add(1)).saturating_sub(playhead) as usize).min(frames)
        };
        if renderable < frames && hold < end && !t.paused.load(Ordering::Relaxed) {
            t.stalls.fetch_add(1, Ordering::Relaxed);
        }
        let mut pos = 0;
        while pos < renderable {
            self.apply_due(playhead + pos as u64);
            let next = match self.pending {
                Some(e) if e.generation == self.generation => {
                    (e.frame.saturating_sub(playhead) as usize).max(pos + 1)
                }
                _ => renderable,
            }
            .min(renderable)
            .min(pos + SCRATCH_FRAMES);
            let n = next - pos;
            self.synth.render(&mut self.left[..n], &mut self.right[..n]);
            interleave(
                &self.left[..n],
                &self.right[..n],
                self.gain,
                &mut out[pos * channels..next * channels],
                channels,
            );
            pos = next;
        }
        out[renderable * channels..]
            .iter_mut()
            .for_each(|x| *x = 0.0);
        let t = &self.transport;
        if renderable > 0 {
            t.playhead
                .store(playhead + renderable as u64, Ordering::Release);
        }
        if playhead + renderable as u64 >= end {
            t.done.store(true, Ordering::Release);
        }
    }

    /// Stopping: the synthesizer fades to silence over [`STOP_FADE_SECONDS`], then every voice is cut
    /// and reverb and chorus are muted, and only zeros follow.
    fn fade_out(&mut self, out: &mut [f32], channels: usize) {
        let frames = (out.len() / channels).min(SCRATCH_FRAMES);
        let step = 1.0 / (STOP_FADE_SECONDS * self.synth.get_sample_rate() as f32);
        if self.fade > 0.0 {
            self.synth
                .render(&mut self.left[..frames], &mut self.right[..frames]);
            for i in 0..frames {
                self.left[i] *= self.fade;
                self.right[i] *= self.fade;
                self.fade = (self.fade - step).max(0.0);
            }
            interleave(
                &self.left[..frames],
                &self.right[..frames],
                self.gain,
                &mut out[..frames * channels],
                channels,
            );
            out[frames * channels..].iter_mut().for_each(|x| *x = 0.0);
            if self.fade == 0.0 {
                self.synth.reset();
            }
            return;
        }
        out.iter_mut().for_each(|x| *x = 0.0);
        self.transport.silent.store(true, Ordering::Release);
    }

    /// After a seek: all notes off, drop stale messages, move to the new position.
    fn follow_generation(&mut self) {
        let t = &self.transport;
        let g = t.generation.load(Ordering::Acquire);
        if g == self.generation {
            return;
        }
        self.synth.note_off_all(true);
        self.synth.reset_all_controllers();
        self.generation = g;
        if self.pending.is_some_and(|e| e.generation != g) {
            self.pending = None;
        }
        t.playhead
            .store(t.seek_frame.load(Ordering::Acquire), Ordering::Release);
    }

    /// Applies every queued message due at or before `now`; keeps the first later one pending.
    fn apply_due(&mut self, now: u64) {
        loop {
            let e = match self.pending.take() {
                Some(e) => e,
                None => match self.rx.pop() {
                    Ok(e) => e,
                    Err(_) => return,
                },
            };
            if e.generation < self.generation {
                continue; // from before a seek or stop
            }
            if e.generation > self.generation || e.frame > now {
                // Later, or already for a seek this callback has not followed yet.
                self.pending = Some(e);
                return;
            }
            if e.frame < now {
                self.transport.late_events.fetch_add(1, Ordering::Relaxed);
            }
            self.apply(e, now);
        }
    }

    fn apply(&mut self, e: PlayEvent, now: u64) {
        let t = &self.transport;
        self.synth.process_midi_message(
            e.channel as i32,
            e.command as i32,
            e.data1 as i32,
            e.data2 as i32,
        );
        t.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(tap) = self.tap.as_mut() {
            let _ = tap.push((now, e));
        }
    }
}

/// Writes a stereo block into an interleaved buffer (mono devices get the average).
pub(crate) fn interleave(left: &[f32], right: &[f32], gain: f32, out: &mut [f32], channels: usize) {
    for (i, frame) in out.chunks_mut(channels).enumerate() {
        if channels == 1 {
            frame[0] = (left[i] + right[i]) * 0.5 * gain;
            continue;
        }
        frame[0] = left[i] * gain;
        frame[1] = right[i] * gain;
        frame[2..].iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Commands from the controller to the scheduler.
enum Command {
    Seek(u64),
    /// New messages, and the frame up to which the music now exists.
    Append(Vec<SynthEvent>, u64),
    Complete,
    Stop,
}

/// The scheduler: keeps the ring filled up to the lookahead, handles seeks and appended music.
struct Scheduler {
    events: Vec<SynthEvent>,
    next: usize,
    tx: rtrb::Producer<PlayEvent>,
    transport: Arc<Transport>,
    complete: bool,
}

impl Scheduler {
    fn run(mut self, commands: Receiver<Command>) {
        loop {
            match commands.recv_timeout(SCHEDULER_TICK) {
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Command::Seek(frame)) => self.seek(frame),
                Ok(Command::Append(events, ready)) => self.append(events, ready),
                Ok(Command::Complete) => {
                    self.complete = true;
                    self.publish_end();
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let playhead = self.transport.playhead.load(Ordering::Acquire);
            let generation = self.transport.generation.load(Ordering::Acquire);
            self.fill(playhead, generation);
        }
    }

    /// Queues the messages due before `from` + the lookahead.
    fn fill(&mut self, from: u64, generation: u32) {
        let horizon = from + (LOOKAHEAD_SECONDS * self.transport.sample_rate as f64) as u64;
        while let Some(e) = self.events.get(self.next) {
            if e.sample >= horizon || self.tx.is_full() {
                break;
            }
            let _ = self.tx.push(play_event(e, e.sample, generation));
            self.next += 1;
        }
    }

    /// Jumps to `frame`: a new generation, with the programs and controllers in force there re-sent.
    /// Its first messages are queued before the callback learns of it, so none comes late.
    fn seek(&mut self, frame: u64) {
        let generation = self.transport.generation.load(Ordering::Acquire) + 1;
        self.next = self.events.partition_point(|e| e.sample < frame);
        let mut chase: Vec<PlayEvent> = Vec::new();
        for e in &self.events[..self.next] {
            if e.command == 0xC0 || e.command == 0xB0 || e.command == 0xE0 {
                chase.retain(|c| {
                    !(c.channel == e.channel
                        && c.command == e.command
                        && (e.command != 0xB0 || c.data1 == e.data1))
                });
                chase.push(play_event(e, frame, generation));
            }
        }
        for c in chase {
            let _ = self.tx.push(c);
        }
        self.fill(frame, generation);
        let t = &self.transport;
        t.seek_frame.store(frame, Ordering::Release);
        t.done.store(false, Ordering::Release);
        t.generation.store(generation, Ordering::Release);
    }

    /// Merges appended messages, queues what is due, and only then lets the playhead run to `ready`.
    fn append(&mut self, mut events: Vec<SynthEvent>, ready: u64) {
        events.sort();
        let tail = self.events.split_off(self.next);
        let mut merged = Vec::with_capacity(tail.len() + events.len());
        let (mut a, mut b) = (tail.into_iter().peekable(), events.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => x <= y,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.extend(if take_a { a.next() } else { b.next() });
        }
        self.events.extend(merged);
        let t = &self.transport;
        self.fill(
            t.playhead.load(Ordering::Acquire),
            t.generation.load(Ordering::Acquire),
        );
        if self.complete {
            self.publish_end();
        } else {
            self.transport.hold_frame.fetch_max(ready, Ordering::AcqRel);
        }
    }

    fn publish_end(&self) {
        let last = self.events.last().map_or(0, |e| e.sample);
        let tail = (TAIL_SECONDS * self.transport.sample_rate as f64) as u64;
        let t = &self.transport;
        t.hold_frame.store(u64::MAX, Ordering::Release);
        t.end_frame.store(last + tail, Ordering::Release);
    }
}

fn play_event(e: &SynthEvent, frame: u64, generation: u32) -> PlayEvent {
    PlayEvent {
        frame,
        generation,
        channel: e.channel,
        command: e.command,
        data1: e.data1,
        data2: e.data2,
    }
}

/// What an output's callback pulls audio from: real-time safe (no allocation, lock or I/O in `fill`).
pub trait AudioSource: Send {
    /// Fills an interleaved buffer of `channels` channels.
    fn fill(&mut self, out: &mut [f32], channels: usize);
    /// The transport it follows (for the output's underrun counter).
    fn transport_handle(&self) -> Arc<Transport>;
}

impl AudioSource for Renderer {
    fn fill(&mut self, out: &mut [f32], channels: usize) {
        Renderer::fill(self, out, channels)
    }

    fn transport_handle(&self) -> Arc<Transport> {
        self.transport.clone()
    }
}

/// Where the callback's audio goes.
pub trait Output {
    /// Frames per second the output runs at.
    fn sample_rate(&self) -> u32;
    /// Starts calling `source.fill` from the output's own thread.
    fn start(&mut self, source: Box<dyn AudioSource>) -> Result<()>;
    /// Stops calling the renderer; returns once it is no longer called.
    fn stop(&mut self);
}

/// A playing score and the handle to steer it.
pub struct Player {
    transport: Arc<Transport>,
    commands: Sender<Command>,
    scheduler: Option<JoinHandle<()>>,
    output: Box<dyn Output>,
}

/// How a playback starts.
#[derive(Debug, Clone, Copy)]
pub struct PlayOptions {
    /// Start at this second of the score.
    pub from_seconds: f64,
    /// More music will be appended ([`Player::append`]); the playhead waits at `hold_seconds` until
    /// then, and the end is only known after [`Player::complete`].
    pub streaming: bool,
    /// With `streaming`: how far the music already exists.
    pub hold_seconds: f64,
    /// Output gain.
    pub gain: f32,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            from_seconds: 0.0,
            streaming: false,
            hold_seconds: 0.0,
            gain: 1.0,
        }
    }
}

impl Player {
    /// Starts playing `score` with `soundfont` on `output`.
    pub fn start(
        score: &Score,
        soundfont: &Arc<SoundFont>,
        mut output: Box<dyn Output>,
        opts: PlayOptions,
    ) -> Result<Player> {
        Self::start_tapped(score, soundfont, &mut output, opts, None).map(|(transport, tx, h)| {
            Player {
                transport,
                commands: tx,
                scheduler: Some(h),
                output,
            }
        })
    }

    /// `start`, with every applied message also sent to `tap` as (frame applied, message): for tests.
    pub fn start_with_tap(
        score: &Score,
        soundfont: &Arc<SoundFont>,
        mut output: Box<dyn Output>,
        opts: PlayOptions,
        tap: rtrb::Producer<(u64, PlayEvent)>,
    ) -> Result<Player> {
        let (transport, commands, h) =
            Self::start_tapped(score, soundfont, &mut output, opts, Some(tap))?;
        Ok(Player {
            transport,
            commands,
            scheduler: Some(h),
            output,
        })
    }

    #[allow(clippy::type_complexity)]
    fn start_tapped(
        score: &Score,
        soundfont: &Arc<SoundFont>,
        output: &mut Box<dyn Output>,
        opts: PlayOptions,
        tap: Option<rtrb::Producer<(u64, PlayEvent)>>,
    ) -> Result<(Arc<Transport>, Sender<Command>, JoinHandle<()>)> {
        let rate = output.sample_rate();
        let frame = |s: f64| (s.max(0.0) * rate as f64).round() as u64;
        let settings = SynthesizerSettings::new(rate as i32);
        let synth = Synthesizer::new(soundfont, &settings)
            .map_err(|e| Error::Internal(format!("synthesizer: {e}")))?;
        let transport = Arc::new(Transport::new(rate, frame(opts.from_seconds)));
        if opts.streaming {
            transport
                .hold_frame
                .store(frame(opts.hold_seconds), Ordering::Release);
        }
        let (tx, rx) = rtrb::RingBuffer::new(RING);
        let renderer = Renderer {
            synth,
            rx,
            pending: None,
            transport: transport.clone(),
            generation: 0,
            left: vec![0.0; SCRATCH_FRAMES],
            right: vec![0.0; SCRATCH_FRAMES],
            gain: opts.gain,
            fade: 1.0,
            tap,
        };
        let mut scheduler = Scheduler {
            events: synth_events(score, rate),
            next: 0,
            tx,
            transport: transport.clone(),
            complete: !opts.streaming,
        };
        // Queue the first messages before the output starts, so none comes late.
        let start = frame(opts.from_seconds);
        if start > 0 {
            scheduler.seek(start);
        } else {
            scheduler.fill(0, 0);
        }
        if scheduler.complete {
            scheduler.publish_end();
        }
        let (commands, command_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("reprise-scheduler".into())
            .spawn(move || scheduler.run(command_rx))
            .map_err(|e| Error::Internal(format!("scheduler thread: {e}")))?;
        output.start(Box::new(renderer))?;
        Ok((transport, commands, handle))
    }

    /// The shared transport (position, counters).
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// Seconds of music played.
    pub fn position(&self) -> f64 {
        self.transport.position()
    }

    /// True once everything has played (and, when streaming, the music is complete).
    pub fn is_done(&self) -> bool {
        self.transport.is_done()
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.transport.paused.load(Ordering::Acquire)
    }

    /// Pauses or resumes. Sounding notes are released on pause, so nothing hangs while paused.
    pub fn toggle_pause(&self) {
        let paused = !self.is_paused();
        if paused {
            self.seek(self.position());
        }
        self.transport.paused.store(paused, Ordering::Release);
    }

    /// Moves the playhead to `seconds` (clamped at 0).
    pub fn seek(&self, seconds: f64) {
        let frame = (seconds.max(0.0) * self.transport.sample_rate as f64).round() as u64;
        let _ = self.commands.send(Command::Seek(frame));
    }

    /// Adds notes (and their messages) to the music while it plays; `ready_until` is how far the music
    /// now exists, in seconds: the playhead may run up to there.
    pub fn append(&self, score: &Score, ready_until: f64) {
        let events = synth_events(score, self.transport.sample_rate);
        let frame = (ready_until.max(0.0) * self.transport.sample_rate as f64) as u64;
        let _ = self.commands.send(Command::Append(events, frame));
    }

    /// Says that no more music will be appended: playback ends after the last note.
    pub fn complete(&self) {
        let _ = self.commands.send(Command::Complete);
    }

    /// Stops: the scheduler first, then a 10 ms fade, every voice cut and the effects muted, then the
    /// output; returns the counters.
    pub fn stop(mut self) -> PlaybackStats {
        let _ = self.commands.send(Command::Stop);
        if let Some(h) = self.scheduler.take() {
            let _ = h.join();
        }
        let t = self.transport.clone();
        t.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_millis(500);
        while !t.silent.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.output.stop();
        PlaybackStats {
            delivered: t.delivered.load(Ordering::Relaxed),
            late_events: t.late_events.load(Ordering::Relaxed),
            underruns: t.underruns.load(Ordering::Relaxed),
            stalls: t.stalls.load(Ordering::Relaxed),
        }
    }
}

/// Pre-rendered audio streamed to the output: a producer thread renders ahead of the playhead and
/// pushes mono samples through a lock-free ring; the callback only pops them. If the producer falls
/// behind, the callback plays silence for the missing part and counts an underrun.
struct StreamSource {
    rx: rtrb::Consumer<f32>,
    transport: Arc<Transport>,
    finished: Arc<AtomicBool>,
}

impl AudioSource for StreamSource {
    fn fill(&mut self, out: &mut [f32], channels: usize) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        let t = &self.transport;
        if t.paused.load(Ordering::Acquire) || t.stopping.load(Ordering::Acquire) {
            out.iter_mut().for_each(|x| *x = 0.0);
            t.silent.store(true, Ordering::Release);
            return;
        }
        let mut played = 0;
        for frame in out.chunks_mut(channels).take(frames) {
            match self.rx.pop() {
                Ok(v) => {
                    frame.iter_mut().for_each(|x| *x = 0.0);
                    frame[0] = v;
                    if channels > 1 {
                        frame[1] = v;
                    }
                    played += 1;
                }
                Err(_) => frame.iter_mut().for_each(|x| *x = 0.0),
            }
        }
        t.playhead.fetch_add(played as u64, Ordering::AcqRel);
        let finished = self.finished.load(Ordering::Acquire);
        if played < frames {
            if finished {
                t.done.store(true, Ordering::Release);
            } else {
                t.underruns.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn transport_handle(&self) -> Arc<Transport> {
        self.transport.clone()
    }
}

/// Hands the next mono samples to the player (waiting while its ring is full); false once stopped.
pub type Push<'a> = &'a mut dyn FnMut(&[f32]) -> bool;

/// A playback of audio rendered while it plays (the neural synthesizer): pause and stop, no seeking.
pub struct StreamPlayer {
    transport: Arc<Transport>,
    stop: Arc<AtomicBool>,
    producer: Option<JoinHandle<Result<()>>>,
    output: Box<dyn Output>,
}

/// Seconds of audio the ring holds ahead of the playhead.
const STREAM_AHEAD_SECONDS: f64 = 4.0;

impl StreamPlayer {
    /// Starts `output` and a producer thread running `render(sample_rate, push)`: `push` takes the
    /// next mono samples (waiting while the ring is full) and returns false once playback stopped.
    /// The output starts once `prefill_seconds` are rendered (or the producer ends).
    pub fn start<F>(mut output: Box<dyn Output>, prefill_seconds: f64, render: F) -> Result<Self>
    where
        F: FnOnce(u32, Push) -> Result<()> + Send + 'static,
    {
        let rate = output.sample_rate();
        let transport = Arc::new(Transport::new(rate, 0));
        let (mut tx, rx) = rtrb::RingBuffer::new((STREAM_AHEAD_SECONDS * rate as f64) as usize);
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let prefill = ((prefill_seconds * rate as f64) as usize).min(tx.buffer().capacity());
        let ready = Arc::new(AtomicBool::new(false));
        let (stop2, finished2, ready2) = (stop.clone(), finished.clone(), ready.clone());
        let producer = std::thread::Builder::new()
            .name("reprise-stream-producer".into())
            .spawn(move || {
                let mut pushed = 0usize;
                let mut push = |samples: &[f32]| -> bool {
                    for &v in samples {
                        while tx.push(v).is_err() {
                            if stop2.load(Ordering::Acquire) {
                                return false;
                            }
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        pushed += 1;
                        if pushed >= prefill {
                            ready2.store(true, Ordering::Release);
                        }
                    }
                    !stop2.load(Ordering::Acquire)
                };
                let result = render(rate, &mut push);
                finished2.store(true, Ordering::Release);
                ready2.store(true, Ordering::Release);
                result
            })
            .map_err(|e| Error::Internal(format!("producer thread: {e}")))?;
        while !ready.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        output.start(Box::new(StreamSource {
            rx,
            transport: transport.clone(),
            finished,
        }))?;
        Ok(StreamPlayer {
            transport,
            stop,
            producer: Some(producer),
            output,
        })
    }

    /// The shared transport (position, counters).
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// Stops the output and the producer; returns the counters, or the producer's error.
    pub fn stop(mut self) -> Result<PlaybackStats> {
        let t = self.transport.clone();
        t.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_millis(300);
        while !t.silent.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.output.stop();
        self.stop.store(true, Ordering::Release);
        let produced = match self.producer.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("producer thread panicked".into()))),
            None => Ok(()),
        };
        produced?;
        Ok(PlaybackStats {
            delivered: t.playhead.load(Ordering::Relaxed),
            late_events: 0,
            underruns: t.underruns.load(Ordering::Relaxed),
            stalls: 0,
        })
    }
}

/// What the command line's playback loop needs from a player.
pub trait Playback {
    /// Seconds played.
    fn position(&self) -> f64;
    /// True once everything has played.
    fn is_done(&self) -> bool;
    /// True while paused.
    fn is_paused(&self) -> bool;
    /// Pauses or resumes.
    fn toggle_pause(&self);
    /// Moves the playhead, where the player can.
    fn seek(&self, seconds: f64);
}

impl Playback for Player {
    fn position(&self) -> f64 {
        Player::position(self)
    }
    fn is_done(&self) -> bool {
        Player::is_done(self)
    }
    fn is_paused(&self) -> bool {
        Player::is_paused(self)
    }
    fn toggle_pause(&self) {
        Player::toggle_pause(self)
    }
    fn seek(&self, seconds: f64) {
        Player::seek(self, seconds)
    }
}

impl Playback for StreamPlayer {
    fn position(&self) -> f64 {
        self.transport.position()
    }
    fn is_done(&self) -> bool {
        self.transport.is_done()
    }
    fn is_paused(&self) -> bool {
        self.transport.paused.load(Ordering::Acquire)
    }
    fn toggle_pause(&self) {
        let p = &self.transport.paused;
        p.store(!p.load(Ordering::Acquire), Ordering::Release);
    }
    fn seek(&self, _seconds: f64) {
        // Audio rendered while it plays cannot jump; the keys say so.
    }
}

/// An output without a sound card: a thread calls the renderer buffer by buffer, as a device would,
/// at `speed` × real time, and counts an underrun when a buffer takes longer to fill than it lasts.
/// Optionally keeps the audio.
pub struct Clocked {
    sample_rate: u32,
    buffer_frames: usize,
    speed: f64,
    audio: Option<Arc<std::sync::Mutex<Vec<f32>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Clocked {
    /// A clocked output at `sample_rate` with buffers of `buffer_frames`, running `speed` × real time.
    pub fn new(sample_rate: u32, buffer_frames: usize, speed: f64) -> Self {
        Clocked {
            sample_rate,
            buffer_frames: buffer_frames.max(1),
            speed: speed.max(1e-3),
            audio: None,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        }
    }

    /// Keeps the interleaved stereo audio; it is in the returned vector once the output has stopped.
    pub fn keep_audio(&mut self) -> Arc<std::sync::Mutex<Vec<f32>>> {
        let sink = Arc::new(std::sync::Mutex::new(Vec::new()));
        self.audio = Some(sink.clone());
        sink
    }
}

impl Output for Clocked {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn start(&mut self, mut source: Box<dyn AudioSource>) -> Result<()> {
        let (frames, rate, speed) = (self.buffer_frames, self.sample_rate, self.speed);
        let transport = source.transport_handle();
        let (stop, sink) = (self.stop.clone(), self.audio.clone());
        let budget = Duration::from_secs_f64(frames as f64 / rate as f64);
        let handle = std::thread::Builder::new()
            .name("reprise-clocked-output".into())
            .spawn(move || {
                let mut buffer = vec![0f32; frames * 2];
                let mut audio = Vec::new();
                let started = Instant::now();
                let mut played = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let t0 = Instant::now();
                    source.fill(&mut buffer, 2);
                    if t0.elapsed() > budget {
                        transport.count_underrun();
                    }
                    if sink.is_some() {
                        audio.extend_from_slice(&buffer);
                    }
                    played += frames as u64;
                    let due = Duration::from_secs_f64(played as f64 / rate as f64 / speed);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                if let Some(sink) = sink {
                    if let Ok(mut s) = sink.lock() {
                        *s = audio;
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("output thread: {e}")))?;
        self.thread = Some(handle);
        Ok(())
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }
}
