//! Playing while generating in the terminal UI. The player cannot leave the thread that opened its
//! output, so a thread the runtime owns opens it (`live::start`), feeds it the generation's note
//! events through a [`LiveFeed`] as the runtime forwards them, completes it with the result
//! (`live::complete`) and reports the playhead; stopping the session stops the player.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::generate::tasks::GenEvent;
use crate::live::{complete, start, LiveFeed};
use crate::midi::Score;

/// What the runtime tells the player's thread.
enum Msg {
    /// A note event of the generation.
    Event(GenEvent),
    /// The generation's result: the rest plays to its end.
    Complete(Score),
    /// The generation stopped early: what was fed plays to its end.
    Cancelled,
}

/// A player fed by a running generation.
pub struct LiveSession {
    tx: mpsc::Sender<Msg>,
    position: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveSession {
    /// Starts playing `base` (the primer as continued) on `device`; errors come back at once.
    pub fn start(base: Score, device: Option<String>) -> crate::Result<LiveSession> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let position = Arc::new(AtomicU64::new(0f64.to_bits()));
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = (position.clone(), done.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("reprise-live".into())
            .spawn(move || {
                let opened = crate::audio::soundfont::load(None).and_then(|sf| {
                    let output = crate::audio::device::open_output(device.as_deref())?;
                    start(&base, &sf, output)
                });
                let player = match opened {
                    Ok(p) => {
                        let _ = ready_tx.send(Ok(()));
                        p
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        shared.1.store(true, Ordering::Release);
                        return;
                    }
                };
                feed(&player, &base, &rx, &shared);
                player.stop();
                shared.1.store(true, Ordering::Release);
            })
            .map_err(|e| crate::Error::Internal(format!("player thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| crate::Error::Internal("the player thread ended".into()))??;
        Ok(LiveSession {
            tx,
            position,
            done,
            stop,
            thread: Some(thread),
        })
    }

    /// Passes on a note event of the generation.
    pub fn event(&self, e: GenEvent) {
        let _ = self.tx.send(Msg::Event(e));
    }

    /// The generation ended with `output` (`None`: it stopped early or failed).
    pub fn finish(&self, output: Option<Score>) {
        let _ = self.tx.send(output.map_or(Msg::Cancelled, Msg::Complete));
    }

    /// Seconds played.
    pub fn position(&self) -> f64 {
        f64::from_bits(self.position.load(Ordering::Acquire))
    }

    /// True once everything has played (or the player could not go on).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Stops the player (all notes off) and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The player thread's loop: feed events, complete, report the playhead, until done or stopped.
fn feed(
    player: &crate::audio::playback::Player,
    base: &Score,
    rx: &mpsc::Receiver<Msg>,
    (position, _, stop): &(Arc<AtomicU64>, Arc<AtomicBool>, Arc<AtomicBool>),
) {
    let mut feed = LiveFeed::new(player);
    let mut completed = false;
    loop {
        let finished = completed && player.is_done();
        if finished || stop.load(Ordering::Acquire) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Msg::Event(e)) => feed.on_event(e),
            Ok(Msg::Complete(output)) => {
                complete(player, base, &output, feed.appended());
                completed = true;
            }
            Ok(Msg::Cancelled) => {
                player.complete();
                completed = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        position.store(player.position().to_bits(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_plays_what_it_is_given_to_the_end_on_the_silent_clock() {
        let mut base = Score::new(480, 500_000).unwrap();
        let t = base.add_track("piano", crate::midi::TrackRole::Other);
        base.push_note_seconds(t, 0, 0, 60, 90, 0.0, 0.3);
        let session = LiveSession::start(base.clone(), Some("null".into())).unwrap();
        let mut more = base.clone();
        more.push_note_seconds(t, 0, 0, 64, 90, 0.3, 0.6);
        session.finish(Some(more));
        let started = std::time::Instant::now();
        while !session.is_done() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(session.is_done(), "still playing at {}", session.position());
        assert!(session.position() >= 0.5, "{}", session.position());
        session.stop();
    }
}
