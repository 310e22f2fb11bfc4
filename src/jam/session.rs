//! The call-and-response state machine. Each [`Session::step`] takes the time and what was played
//! since the last step; the session echoes the player (if asked), notices the pause, has the
//! answer drawn on its own thread while the pause is still being confirmed (so it is ready when the
//! pause is), sends the answer's messages when they are due, and stops it — every sounding note
//! released — as soon as the player presses a key.
//!
//! The answer starts on the first beat after `pause` of silence. Drawing starts a quarter of the
//! pause (at most half a second) into the silence; if the player plays again before the answer
//! starts, the draft is dropped unheard.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::answer::{Answerer, Ask};
use super::listener::Listener;
use super::take::{AnswerReport, Take};
use super::tempo::{estimate, Beat};
use super::Note;
use crate::error::{Error, Result};
use crate::metrics::find_key;
use crate::ports::{Message, MidiSink, NoteGuard, Timed};

/// Where the beat comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TempoSetting {
    /// This many BPM, the first note played on the first downbeat.
    Given(f64),
    /// Estimated from the first phrase's onsets (at least four), then kept.
    Estimate,
}

/// How much silence ends a phrase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pause {
    /// One bar at the session's tempo.
    Bar,
    /// This many seconds.
    Seconds(f64),
}

/// Silence (s) after which a phrase too short to hear a tempo in is pointed out.
const NEED_NOTES_AFTER: f64 = 1.5;

/// Silence (s) that ends the first phrase when the tempo is to be estimated from it.
const ESTIMATE_AFTER: f64 = 0.75;

/// Longest a lockstep step waits for the answerer before giving up on it.
const LOCKSTEP_WAIT: Duration = Duration::from_secs(120);

/// How a session plays.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The beat.
    pub tempo: TempoSetting,
    /// What ends a phrase.
    pub pause: Pause,
    /// Bars in each answer.
    pub answer_bars: usize,
    /// MIDI channel of the answers.
    pub channel: u8,
    /// Echo the player's notes and pedal to the output on this channel.
    pub thru: Option<u8>,
    /// Seed of the first answer (the n-th uses `seed + n`).
    pub seed: u64,
    /// Wait for the answerer instead of sending late (tests and benches on a scripted clock).
    pub lockstep: bool,
}

/// What happened, for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The session listens (the first step after everything opened).
    Listening,
    /// The session's beat is set.
    Tempo {
        /// Beats per minute.
        bpm: f64,
        /// Estimated from onsets (with this fit, 0–1) rather than given.
        estimated: Option<f64>,
    },
    /// A phrase ended before four notes, too few to hear a tempo in.
    NeedNotes,
    /// An answer starts sounding.
    Answering {
        /// Session seconds of its first beat.
        start: f64,
        /// Bars it will last.
        bars: usize,
        /// The key of the conversation it continues.
        key: Option<String>,
    },
    /// An answer ended.
    Answered(AnswerReport),
    /// The answerer failed; the session listens on.
    Failed(String),
}

/// What the answerer's thread sends.
enum JobMsg {
    Message(Timed),
    Done(Result<()>),
}

/// An answer being drawn and played.
struct Answer {
    cancel: Arc<AtomicBool>,
    rx: Receiver<JobMsg>,
    handle: Option<JoinHandle<()>>,
    /// Every message up to this time has arrived.
    ready_until: f64,
    done: bool,
    failed: Option<Error>,
    schedule: VecDeque<Timed>,
    /// Notes sounding: (pitch, velocity, sent at).
    sounding: Vec<(u8, u8, f64)>,
    announced: bool,
    report: AnswerReport,
    key: Option<String>,
}

impl Answer {
    fn take(&mut self, msg: JobMsg) {
        match msg {
            JobMsg::Message(t) => {
                self.ready_until = self.ready_until.max(t.time);
                let rank = |m: &Timed| (m.time, matches!(m.message, Message::NoteOn { .. }));
                let key = rank(&t);
                let at = self
                    .schedule
                    .iter()
                    .rposition(|m| rank(m) <= key)
                    .map_or(0, |i| i + 1);
                self.schedule.insert(at, t);
            }
            JobMsg::Done(r) => {
                self.done = true;
                self.failed = r.err().filter(|e| !matches!(e, Error::Cancelled));
            }
        }
    }

    /// Takes what the answerer sent; in lockstep, waits until everything due by `now` is known.
    fn drain(&mut self, now: f64, lockstep: bool) {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    if !self.done {
                        self.take(JobMsg::Done(Err(Error::Internal(
                            "the answerer stopped answering".into(),
                        ))));
                    }
                    break;
                }
            }
        }
        while lockstep && !self.done && self.ready_until <= now {
            match self.rx.recv_timeout(LOCKSTEP_WAIT) {
                Ok(msg) => self.take(msg),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    self.take(JobMsg::Done(Err(Error::Internal(
                        "the answerer stopped answering".into(),
                    ))));
                }
            }
        }
    }
}

/// A call-and-response session sending to `S`.
pub struct Session<S: MidiSink> {
    settings: Settings,
    answerer: Arc<dyn Answerer>,
    sink: NoteGuard<S>,
    listener: Listener,
    beat: Option<Beat>,
    /// Reprise's notes that have sounded.
    answered: Vec<Note>,
    answer: Option<Answer>,
    asked: u64,
    said_need_notes: bool,
    events: Vec<Event>,
    reports: Vec<AnswerReport>,
    /// Answer threads cancelled but maybe not yet returned.
    retired: Vec<JoinHandle<()>>,
}

impl<S: MidiSink> Session<S> {
    /// A session answering with `answerer` into `sink`.
    pub fn new(settings: Settings, answerer: Arc<dyn Answerer>, sink: S) -> Result<Self> {
        if settings.answer_bars == 0 || settings.answer_bars > 64 {
            return Err(Error::Invalid(format!(
                "answers of {} bars: 1–64 bars",
                settings.answer_bars
            )));
        }
        if let TempoSetting::Given(bpm) = settings.tempo {
            if !(20.0..=300.0).contains(&bpm) {
                return Err(Error::Invalid(format!("a tempo of {bpm} BPM: 20–300")));
            }
        }
        if let Pause::Seconds(s) = settings.pause {
            if !(0.1..=30.0).contains(&s) {
                return Err(Error::Invalid(format!("a pause of {s} s: 0.1–30 s")));
            }
        }
        Ok(Session {
            settings,
            answerer,
            sink: NoteGuard::new(sink),
            listener: Listener::new(),
            beat: None,
            answered: Vec::new(),
            answer: None,
            asked: 0,
            said_need_notes: false,
            events: vec![Event::Listening],
            reports: Vec::new(),
            retired: Vec::new(),
        })
    }

    /// The beat, once known.
    pub fn beat(&self) -> Option<Beat> {
        self.beat
    }

    /// True while an answer is being drawn or played.
    pub fn answering(&self) -> bool {
        self.answer.as_ref().is_some_and(|a| a.announced)
    }

    /// True while an answer is being drawn, waited for or played.
    pub fn busy(&self) -> bool {
        self.answer.is_some()
    }

    /// The output.
    pub fn sink(&self) -> &S {
        self.sink.inner()
    }

    /// Moves the session to `now`, given the messages `played` since the last step (in order, none
    /// after `now`). Returns what happened.
    pub fn step(&mut self, now: f64, played: &[Timed]) -> Result<Vec<Event>> {
        for m in played {
            self.hear(m)?;
        }
        self.advance(now)?;
        Ok(std::mem::take(&mut self.events))
    }

    fn hear(&mut self, m: &Timed) -> Result<()> {
        if let Some(channel) = self.settings.thru {
            if let Some(echo) = m.message.on_channel(channel) {
                self.sink.send(echo)?;
            }
        }
        if !self.listener.hear(m) {
            return Ok(());
        }
        if let (None, TempoSetting::Given(bpm)) = (self.beat, self.settings.tempo) {
            self.beat = Some(Beat {
                bpm,
                origin: m.time,
            });
            self.events.push(Event::Tempo {
                bpm,
                estimated: None,
            });
        }
        if let Some(answer) = self.answer.take() {
            self.stop(answer, m.time, true)?;
        }
        Ok(())
    }

    fn advance(&mut self, now: f64) -> Result<()> {
        let Some(mut answer) = self.answer.take() else {
            return self.maybe_ask(now);
        };
        let lockstep = self.settings.lockstep && now >= answer.report.start;
        answer.drain(now, lockstep);
        if let Some(e) = answer.failed.take() {
            self.events.push(Event::Failed(e.to_string()));
            return self.stop(answer, now, false);
        }
        if now < answer.report.start {
            self.answer = Some(answer);
            return Ok(());
        }
        if !answer.announced {
            answer.announced = true;
            self.listener.take_phrase();
            self.events.push(Event::Answering {
                start: answer.report.start,
                bars: self.settings.answer_bars,
                key: answer.key.clone(),
            });
        }
        while answer.schedule.front().is_some_and(|m| m.time <= now) {
            let m = answer.schedule.pop_front().expect("a message is due");
            self.send(&mut answer, m, now)?;
        }
        if answer.done && answer.schedule.is_empty() {
            return self.stop(answer, now, false);
        }
        self.answer = Some(answer);
        Ok(())
    }

    fn send(&mut self, answer: &mut Answer, due: Timed, now: f64) -> Result<()> {
        let message = due.message;
        match message {
            Message::NoteOn {
                pitch, velocity, ..
            } => {
                if answer.sounding.iter().any(|s| s.0 == pitch) {
                    self.release(answer, pitch, now)?;
                }
                answer.sounding.push((pitch, velocity, now));
                let r = &mut answer.report;
                r.notes += 1;
                if r.first_sent.is_none() {
                    r.first_sent = Some(now);
                    r.first_due = Some(due.time);
                }
                self.sink.send(message)
            }
            Message::NoteOff { pitch, .. } => self.release(answer, pitch, now),
            Message::Control { .. } | Message::Program { .. } => self.sink.send(message),
        }
    }

    fn release(&mut self, answer: &mut Answer, pitch: u8, now: f64) -> Result<()> {
        let Some(i) = answer.sounding.iter().position(|s| s.0 == pitch) else {
            return Ok(());
        };
        let (pitch, velocity, start) = answer.sounding.remove(i);
        self.answered.push(Note {
            pitch,
            start,
            end: now,
            velocity,
        });
        self.sink.send(Message::NoteOff {
            channel: self.settings.channel,
            pitch,
        })
    }

    /// Ends `answer` at `now`: cancels its drawing and releases what sounds; reported if it had
    /// started.
    fn stop(&mut self, mut answer: Answer, now: f64, interrupted: bool) -> Result<()> {
        answer.cancel.store(true, Ordering::Release);
        let mut result = Ok(());
        for (pitch, ..) in answer.sounding.clone() {
            result = result.and(self.release(&mut answer, pitch, now));
        }
        if answer.announced {
            let report = AnswerReport {
                interrupted,
                ..answer.report
            };
            self.reports.push(report);
            self.events.push(Event::Answered(report));
        }
        self.retired.extend(answer.handle.take());
        self.retired.retain(|h| !h.is_finished());
        result
    }

    /// Starts drawing an answer once the player has been silent long enough.
    fn maybe_ask(&mut self, now: f64) -> Result<()> {
        let Some(silent) = self.listener.silent_since() else {
            return Ok(());
        };
        if self.listener.phrase_onsets() == 0 {
            return Ok(());
        }
        if self.beat.is_none() && now - silent < ESTIMATE_AFTER {
            return Ok(());
        }
        let Some(beat) = self.beat_or_estimate(now - silent) else {
            return Ok(());
        };
        let pause = match self.settings.pause {
            Pause::Bar => beat.bar_seconds(),
            Pause::Seconds(s) => s,
        };
        if now < silent + (pause * 0.25).min(0.5) {
            return Ok(());
        }
        let start = beat
            .next_beat(silent + pause - beat.beat_seconds() * 0.25)
            .max(beat.next_beat(now));
        self.ask(beat, start);
        Ok(())
    }

    fn beat_or_estimate(&mut self, silence: f64) -> Option<Beat> {
        if self.beat.is_some() {
            return self.beat;
        }
        match estimate(&self.listener.onsets()) {
            Some((beat, fit)) => {
                self.beat = Some(beat);
                self.events.push(Event::Tempo {
                    bpm: beat.bpm,
                    estimated: Some(fit),
                });
                self.beat
            }
            None => {
                if silence >= NEED_NOTES_AFTER && !self.said_need_notes {
                    self.said_need_notes = true;
                    self.events.push(Event::NeedNotes);
                }
                None
            }
        }
    }

    fn ask(&mut self, beat: Beat, start: f64) {
        let mut heard: Vec<Note> = self.listener.notes().to_vec();
        heard.extend_from_slice(&self.answered);
        heard.sort_by(|a, b| a.start.total_cmp(&b.start));
        let key = find_key(&heard).map(|k| k.name());
        let ask = Ask {
            beat,
            start,
            bars: self.settings.answer_bars,
            channel: self.settings.channel,
            seed: self.settings.seed.wrapping_add(self.asked),
        };
        self.asked += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (answerer, stop) = (self.answerer.clone(), cancel.clone());
        let handle = std::thread::Builder::new()
            .name("reprise-answer".into())
            .spawn(move || {
                let mut out = |t: Timed| {
                    let _ = tx.send(JobMsg::Message(t));
                };
                let result = crate::guard::unwind("the answer", || {
                    answerer.answer(&heard, &ask, &stop, &mut out)
                });
                let _ = tx.send(JobMsg::Done(result));
            });
        let (handle, done, failed) = match handle {
            Ok(h) => (Some(h), false, None),
            Err(e) => (
                None,
                true,
                Some(Error::Internal(format!("answer thread: {e}"))),
            ),
        };
        self.answer = Some(Answer {
            cancel,
            rx,
            handle,
            ready_until: f64::NEG_INFINITY,
            done,
            failed,
            schedule: VecDeque::new(),
            sounding: Vec::new(),
            announced: false,
            report: AnswerReport {
                start,
                ..Default::default()
            },
            key,
        });
    }

    /// Ends the session at `now`: stops any answer, releases every note on the output (also the
    /// echoed ones) and returns everything played.
    pub fn finish(mut self, now: f64) -> Result<Take> {
        let mut result = Ok(());
        if let Some(answer) = self.answer.take() {
            result = self.stop(answer, now, true);
        }
        self.listener.close(now);
        result = result.and(self.sink.release_all());
        for h in self.retired.drain(..) {
            let _ = h.join();
        }
        result?;
        Ok(Take {
            player: self.listener.notes().to_vec(),
            reprise: std::mem::take(&mut self.answered),
            beat: self.beat,
            answers: std::mem::take(&mut self.reports),
        })
    }
}
